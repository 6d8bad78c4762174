// Heads ordered by similarity, so that groups of alike heads sit next to each other in a heatmap: agglomerative clustering
// with average linkage (UPGMA) on the distance d(i, j) = 1 − s(i, j), and the dendrogram's leaf order.
//   Start with every head its own cluster; repeatedly merge the two clusters A, B with the smallest average distance
//   d(A, B) = mean over a ∈ A, b ∈ B of d(a, b), until one is left. Each merge lists A's heads, then B's, where A is the
//   cluster holding the lower head index (so the order is deterministic, and the original order when nothing is alike).
// Ties between equal distances go to the pair of clusters whose lowest head indices come first. DOM-free.

export interface Merge {
  /** Heads of the two clusters merged, each in leaf order; `a` holds the lower head index. */
  a: number[];
  b: number[];
  /** Average distance 1 − s between the two clusters' heads when they were merged. */
  height: number;
}

function checkSquare(sim: number[][]): number {
  const n = sim.length;
  sim.forEach((row, i) => {
    if (row.length !== n) throw new Error(`similarity row ${i} has ${row.length} values; expected ${n}`);
    row.forEach((v, j) => {
      if (!Number.isFinite(v)) throw new Error(`similarity (${i}, ${j}) is ${v}`);
    });
  });
  return n;
}

/** The merges of average-linkage clustering on 1 − s (s symmetrised as (s_ij + s_ji)/2), in the order they happen. */
export function averageLinkage(sim: number[][]): Merge[] {
  const n = checkSquare(sim);
  const d = (i: number, j: number) => 1 - (sim[i][j] + sim[j][i]) / 2;
  let clusters: number[][] = Array.from({ length: n }, (_, i) => [i]);
  const merges: Merge[] = [];
  while (clusters.length > 1) {
    let best = { x: 0, y: 1, dist: Infinity };
    for (let x = 0; x < clusters.length; x++) {
      for (let y = x + 1; y < clusters.length; y++) {
        let sum = 0;
        for (const a of clusters[x]) for (const b of clusters[y]) sum += d(a, b);
        const dist = sum / (clusters[x].length * clusters[y].length);
        // strict < keeps the first pair met; clusters are kept sorted by their lowest head, so ties go to low indices
        if (dist < best.dist - 1e-12) best = { x, y, dist };
      }
    }
    const [a, b] = [clusters[best.x], clusters[best.y]];
    merges.push({ a, b, height: best.dist });
    const merged = [...a, ...b];
    clusters = clusters.filter((_, k) => k !== best.x && k !== best.y);
    clusters.push(merged);
    clusters.sort((p, q) => Math.min(...p) - Math.min(...q));
  }
  return merges;
}

/** The heads in dendrogram leaf order: a permutation of 0 … n−1 in which every cluster is contiguous. */
export function clusterOrder(sim: number[][]): number[] {
  const n = checkSquare(sim);
  if (n === 0) return [];
  const merges = averageLinkage(sim);
  return merges.length ? [...merges[merges.length - 1].a, ...merges[merges.length - 1].b] : [0];
}

/** The matrix with rows and columns permuted: out[r][c] = sim[order[r]][order[c]]. */
export function permute(sim: number[][], order: number[]): number[][] {
  return order.map((i) => order.map((j) => sim[i][j]));
}
