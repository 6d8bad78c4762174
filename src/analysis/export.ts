// Similarity results as files a person can take elsewhere: JSON in the CLI's shape, and CSV with one row per head pair.
export interface SimilarityExport {
  metric: string;
  model: string;
  tokens: number;
  layers: { k: number[][]; v: number[][] }[];
}

export function similarityJson(e: SimilarityExport): string {
  return JSON.stringify(e);
}

/** layer,kind,head_i,head_j,value — every ordered pair, so that spreadsheets can pivot it back into matrices. */
export function similarityCsv(e: SimilarityExport): string {
  const lines = ['layer,kind,head_i,head_j,value'];
  e.layers.forEach((l, li) => {
    for (const kind of ['k', 'v'] as const) {
      l[kind].forEach((row, i) => row.forEach((v, j) => lines.push(`${li},${kind.toUpperCase()},${i},${j},${v.toFixed(6)}`)));
    }
  });
  return `${lines.join('\n')}\n`;
}
