// Similarity results as files a person can take elsewhere: JSON in the CLI's shape (plus the Q matrices and the K/V
// redundancy when the page has them), and CSV with one row per head pair.
export interface RedundancyExport {
  /** Share of the layer's head energy lost by merging the closest pair (src/analysis/redundancy.ts); null: < 2 heads. */
  loss: number | null;
  /** That pair, original head indices. */
  pair: [number, number] | null;
}

export interface SimilarityExport {
  metric: string;
  model: string;
  tokens: number;
  layers: { q?: number[][]; k: number[][]; v: number[][]; redundancy?: { k: RedundancyExport; v: RedundancyExport } | null }[];
}

export function similarityJson(e: SimilarityExport): string {
  return JSON.stringify(e);
}

/** layer,kind,head_i,head_j,value — every ordered pair (Q rows too when present), so that spreadsheets can pivot it back into matrices. */
export function similarityCsv(e: SimilarityExport): string {
  const lines = ['layer,kind,head_i,head_j,value'];
  e.layers.forEach((l, li) => {
    for (const kind of ['k', 'v', 'q'] as const) {
      l[kind]?.forEach((row, i) => row.forEach((v, j) => lines.push(`${li},${kind.toUpperCase()},${i},${j},${v.toFixed(6)}`)));
    }
  });
  return `${lines.join('\n')}\n`;
}
