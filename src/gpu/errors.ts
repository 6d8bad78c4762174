// Typed GPU errors whose messages say what failed, with which tensor or limit, and what to do.
import { formatBytes } from '../format';

export type GpuErrorKind = 'unavailable' | 'limit' | 'out-of-memory' | 'device-lost' | 'validation';

export class GpuError extends Error {
  readonly kind: GpuErrorKind;
  constructor(kind: GpuErrorKind, message: string) {
    super(message);
    this.kind = kind;
    this.name = new.target.name;
  }
}

/** Where the code runs decides the advice: a browser needs a flag, Node needs a Vulkan driver. */
export type GpuHost = 'browser' | 'node' | 'worker';

export class WebGpuUnavailableError extends GpuError {
  constructor(host: GpuHost, detail: string) {
    super('unavailable', `${detail} ${WebGpuUnavailableError.advice(host)}`);
  }
  static advice(host: GpuHost): string {
    if (host === 'node') {
      return (
        "In Node, headlab runs WebGPU through Dawn (the `webgpu` package) on a Vulkan driver: install your GPU's Vulkan driver, " +
        "or Debian's Chromium (`apt-get install -y chromium`) whose SwiftShader is used as a CPU fallback."
      );
    }
    return (
      'Use Chrome or Edge 113 or newer. On Linux, WebGPU is behind a flag: open chrome://flags/#enable-unsafe-webgpu, set it to ' +
      'Enabled and restart, or start Chrome with `--enable-unsafe-webgpu --enable-features=Vulkan`. The page must be served from ' +
      'https or localhost.'
    );
  }
}

export class GpuLimitError extends GpuError {
  readonly tensor: string;
  readonly bytes: number;
  readonly limit: string;
  readonly limitValue: number;
  constructor(tensor: string, bytes: number, limit: string, limitValue: number) {
    super(
      'limit',
      `Tensor "${tensor}" needs ${formatBytes(bytes)} but this adapter's ${limit} is ${formatBytes(limitValue)}. ` +
        'Use a smaller model or batch, or a GPU with a larger limit.',
    );
    this.tensor = tensor;
    this.bytes = bytes;
    this.limit = limit;
    this.limitValue = limitValue;
  }
}

export class GpuOutOfMemoryError extends GpuError {
  readonly what: string;
  readonly bytes: number;
  constructor(what: string, bytes: number, detail: string) {
    super(
      'out-of-memory',
      `The GPU ran out of memory while creating ${what}${bytes > 0 ? ` (${formatBytes(bytes)})` : ''}: ${detail}. ` +
        'Close other GPU-heavy tabs or programs, or use a smaller model or batch.',
    );
    this.what = what;
    this.bytes = bytes;
  }
}

export class GpuValidationError extends GpuError {
  constructor(what: string, detail: string) {
    super('validation', `WebGPU rejected ${what}: ${detail}`);
  }
}

export class GpuDeviceLostError extends GpuError {
  readonly reason: string;
  constructor(reason: string, detail: string) {
    super(
      'device-lost',
      `The GPU device was lost (${reason}${detail ? `: ${detail}` : ''}). headlab recreates the device and uploads the model again; ` +
        'the step that was running must be started again.',
    );
    this.reason = reason;
  }
}
