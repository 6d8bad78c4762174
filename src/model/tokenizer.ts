// Tokenizers: llama2.c's tokenizer.bin (SentencePiece-style pieces with scores, byte fallback, greedy merges by best score)
// and Hugging Face tokenizer.json through the maintained @huggingface/tokenizers library (no hand-written BPE).
import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import { ModelFormatError } from './errors';

export interface Tokenizer {
  kind: 'llama2c' | 'huggingface';
  vocabSize: number;
  bosId: number | null;
  eosId: number | null;
  /** Token ids of a text, BOS first when the tokenizer has one and `bos` is not false. */
  encode(text: string, opts?: { bos?: boolean }): number[];
  decode(ids: number[]): string;
  /** The piece of one token as text, for display. */
  piece(id: number): string;
}

/**
 * llama2.c tokenizer.bin: int32 max_token_length, then per token: f32 score, int32 length, bytes. Encoding follows run.c:
 * BOS (1), a dummy space before the text, each code point as its piece or, when it has none, its UTF-8 bytes as
 * `<0xNN>` tokens (id = byte + 3), then repeatedly merge the adjacent pair whose joined piece has the best score.
 */
export class Llama2cTokenizer implements Tokenizer {
  readonly kind = 'llama2c' as const;
  readonly vocabSize: number;
  readonly bosId = 1;
  readonly eosId = 2;
  private readonly pieces: string[];
  private readonly pieceBytes: Uint8Array[];
  private readonly scores: Float32Array;
  private readonly lookup = new Map<string, number>();

  constructor(pieces: Uint8Array[], scores: Float32Array) {
    this.vocabSize = pieces.length;
    this.pieceBytes = pieces;
    this.scores = scores;
    const dec = new TextDecoder('utf-8', { fatal: false });
    this.pieces = pieces.map((p) => dec.decode(p));
    // The first occurrence wins, as with run.c's sorted bsearch over unique pieces.
    this.pieces.forEach((p, i) => {
      if (!this.lookup.has(p)) this.lookup.set(p, i);
    });
  }

  static parse(bytes: ArrayBuffer, vocabSize: number, name: string): Llama2cTokenizer {
    const view = new DataView(bytes);
    if (bytes.byteLength < 4) throw new ModelFormatError(name, 'the tokenizer file is empty or truncated');
    let at = 4;
    const pieces: Uint8Array[] = [];
    const scores = new Float32Array(vocabSize);
    for (let i = 0; i < vocabSize; i++) {
      if (at + 8 > bytes.byteLength) {
        throw new ModelFormatError(
          name,
          `the tokenizer ends after ${i} of the model's ${vocabSize} tokens`,
          'Is this the tokenizer of this model? (tok<vocab>.bin)',
        );
      }
      scores[i] = view.getFloat32(at, true);
      const len = view.getInt32(at + 4, true);
      at += 8;
      if (len < 0 || at + len > bytes.byteLength) throw new ModelFormatError(name, `token ${i} has an invalid length ${len}`);
      pieces.push(new Uint8Array(bytes.slice(at, at + len)));
      at += len;
    }
    return new Llama2cTokenizer(pieces, scores);
  }

  encode(text: string, opts: { bos?: boolean } = {}): number[] {
    const ids: number[] = [];
    if (opts.bos !== false) ids.push(this.bosId);
    if (text === '') return ids;
    const enc = new TextEncoder();
    const tokens: number[] = [];
    for (const ch of ' ' + text) {
      const id = this.lookup.get(ch);
      if (id !== undefined) tokens.push(id);
      else for (const b of enc.encode(ch)) tokens.push(b + 3);
    }
    for (;;) {
      let best = -Infinity;
      let bestId = -1;
      let bestAt = -1;
      for (let i = 0; i + 1 < tokens.length; i++) {
        const id = this.lookup.get(this.pieces[tokens[i]] + this.pieces[tokens[i + 1]]);
        if (id !== undefined && this.scores[id] > best) {
          best = this.scores[id];
          bestId = id;
          bestAt = i;
        }
      }
      if (bestAt < 0) break;
      tokens.splice(bestAt, 2, bestId);
    }
    return ids.concat(tokens);
  }

  decode(ids: number[]): string {
    const bytes: number[] = [];
    // run.c strips the dummy space that encoding put after BOS (a piece " …" or the byte token <0x20>).
    let afterBos = false;
    for (const id of ids) {
      if (id === this.bosId) {
        afterBos = true;
        continue;
      }
      if (id === this.eosId || id < 0 || id >= this.vocabSize) continue;
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(this.pieces[id]);
      const piece = m ? [parseInt(m[1], 16)] : [...this.pieceBytes[id]];
      if (afterBos && piece[0] === 0x20) piece.shift();
      afterBos = false;
      bytes.push(...piece);
    }
    return new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(bytes));
  }

  piece(id: number): string {
    return this.pieces[id] ?? '';
  }
}

/** A Hugging Face tokenizer.json (+ tokenizer_config.json when present). */
export class HfTokenizer implements Tokenizer {
  readonly kind = 'huggingface' as const;
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  private readonly impl: HfTokenizerImpl;
  private readonly addBos: boolean;

  constructor(tokenizerJson: unknown, tokenizerConfig: Record<string, unknown> = {}, name = 'tokenizer.json') {
    try {
      this.impl = new HfTokenizerImpl(tokenizerJson as object, tokenizerConfig);
    } catch (e) {
      throw new ModelFormatError(name, `the tokenizer could not be built (${e instanceof Error ? e.message : String(e)})`);
    }
    const json = tokenizerJson as { model?: { vocab?: Record<string, number> | unknown[] }; added_tokens?: { id: number; content: string }[] };
    const vocab = json.model?.vocab;
    const base = Array.isArray(vocab) ? vocab.length : vocab ? Object.keys(vocab).length : 0;
    const added = json.added_tokens ?? [];
    this.vocabSize = Math.max(base, ...added.map((t) => t.id + 1));
    const idOf = (tok: unknown): number | null => {
      const content = typeof tok === 'string' ? tok : (tok as { content?: string } | null)?.content;
      if (!content) return null;
      const hit = added.find((t) => t.content === content);
      if (hit) return hit.id;
      const ids = this.impl.encode(content, { add_special_tokens: false }).ids;
      return ids.length === 1 ? ids[0] : null;
    };
    this.bosId = idOf(tokenizerConfig.bos_token);
    this.eosId = idOf(tokenizerConfig.eos_token);
    this.addBos = tokenizerConfig.add_bos_token === true && this.bosId !== null;
  }

  encode(text: string, opts: { bos?: boolean } = {}): number[] {
    const ids = this.impl.encode(text, { add_special_tokens: false }).ids;
    return opts.bos !== false && this.addBos ? [this.bosId!, ...ids] : ids;
  }

  decode(ids: number[]): string {
    return this.impl.decode(ids, { skip_special_tokens: true });
  }

  piece(id: number): string {
    return this.impl.decode([id], { skip_special_tokens: false });
  }
}
