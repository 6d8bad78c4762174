// Hugging Face tokenizer.json through @huggingface/tokenizers: a GPT-2 style byte-level BPE and a Llama style
// (Metaspace, byte fallback) tokenizer, small enough to check by hand.
import { describe, expect, it } from 'vitest';
import { HfTokenizer } from '../src/model/tokenizer';
import { loadModelFiles } from '../src/model/load';
import { readFileSync } from 'node:fs';
import { testdata } from './testdata';

// GPT-2 maps bytes to printable characters; for ASCII letters and punctuation the character is the byte itself, and the
// space (0x20) is "Ġ".
function byteLevel() {
  const vocab: Record<string, number> = {};
  const chars = 'abcdefghijklmnopqrstuvwxyzTO,.!Ġ';
  for (const ch of chars) vocab[ch] = Object.keys(vocab).length;
  const merges = ['Ġ t', 'h e', 'Ġt he', 'O n', 'On c', 'Onc e'];
  for (const m of merges) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  vocab['<|endoftext|>'] = Object.keys(vocab).length;
  return {
    version: '1.0',
    added_tokens: [
      { id: vocab['<|endoftext|>'], content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

describe('Hugging Face tokenizer.json', () => {
  it('GPT-2 byte-level BPE: merges by rank, spaces as Ġ, round trip', () => {
    const json = byteLevel();
    const tok = new HfTokenizer(json, { eos_token: '<|endoftext|>', bos_token: '<|endoftext|>' });
    const v = json.model.vocab;
    expect(tok.encode('Once the')).toEqual([v['Once'], v['Ġthe']]);
    expect(tok.encode('the')).toEqual([v['t'], v['he']]);
    expect(tok.decode(tok.encode('Once the cat.'))).toBe('Once the cat.');
    expect(tok.eosId).toBe(v['<|endoftext|>']);
    expect(tok.vocabSize).toBe(Object.keys(v).length);
    expect(tok.encode('x')).toEqual([v['x']]); // GPT-2 adds no BOS
  });

  it('a Llama-style tokenizer: Metaspace ▁, byte fallback for unknown characters, BOS from tokenizer_config', () => {
    const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
    for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
    for (const p of ['▁', 'O', 'n', 'c', 'e', 'h', 'i', '▁O', '▁On', 'ce', '▁Once', 'hi', '▁hi']) vocab[p] = Object.keys(vocab).length;
    const json = {
      version: '1.0',
      added_tokens: [
        { id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
        { id: 1, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
        { id: 2, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      ],
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
      post_processor: null,
      decoder: {
        type: 'Sequence',
        decoders: [
          { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
          { type: 'ByteFallback' },
          { type: 'Fuse' },
          { type: 'Strip', content: ' ', start: 1, stop: 0 },
        ],
      },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: '<unk>',
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: true,
        vocab,
        merges: ['▁ O', '▁O n', 'c e', '▁On ce', 'h i', '▁ hi'],
      },
    };
    const tok = new HfTokenizer(json, { bos_token: '<s>', eos_token: '</s>', add_bos_token: true });
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    expect(tok.encode('Once hi')).toEqual([1, vocab['▁Once'], vocab['▁hi']]);
    expect(tok.encode('é', { bos: false })).toEqual([vocab['▁'], 3 + 0xc3, 3 + 0xa9]);
    expect(tok.decode(tok.encode('Once hié'))).toBe('Once hié');
  });

  it('loads beside a Hugging Face checkpoint; broken tokenizer.json names the file', async () => {
    const cfg = readFileSync(testdata('fixtures/hf/gpt2/config.json'));
    const weights = readFileSync(testdata('fixtures/hf/gpt2/model.safetensors'));
    const files = new Map<string, Blob>([
      ['config.json', new Blob([cfg])],
      ['model.safetensors', new Blob([weights])],
      ['tokenizer.json', new Blob([JSON.stringify(byteLevel())])],
    ]);
    const loaded = await loadModelFiles(files);
    expect(loaded.tokenizer?.kind).toBe('huggingface');
    files.set('tokenizer.json', new Blob(['{"model": ']));
    await expect(loadModelFiles(files)).rejects.toThrow(/tokenizer\.json: the JSON does not parse/);
  });
});
