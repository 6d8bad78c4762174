// The one GPU runtime of headlab: a device from adapter.ts, typed errors, a pipeline
// cache, buffer helpers and recovery from device loss. No DOM: it runs in the page, in a Web Worker and in Node (Dawn).
import './float16-shim';
import { makeShaderDataDefinitions, makeStructuredView, type ShaderDataDefinitions, type StructuredView } from 'webgpu-utils';
import { GpuDeviceLostError, GpuLimitError, GpuOutOfMemoryError, GpuValidationError, type GpuHost } from './errors';
import { acquire, summarise, type AdapterSummary, type LimitName } from './adapter';

/** A storage buffer with its name and element count. After device loss, persistent tensors get a new buffer. */
export interface GpuTensor {
  readonly label: string;
  buffer: GPUBuffer;
  readonly length: number;
  readonly bytes: number;
  /** Host copy kept so that the tensor can be re-uploaded after device loss. */
  readonly host?: Float32Array | Uint32Array;
  lost: boolean;
}

export interface KernelSource {
  /** WGSL source. Storage and uniform variables are bound by their names (reflection by webgpu-utils). */
  code: string;
  label: string;
  entryPoint?: string;
  constants?: Record<string, number | boolean>;
}

export interface KernelRun {
  /** Storage buffers by the name of their WGSL variable. */
  buffers: Record<string, GpuTensor | GPUBuffer>;
  /** Values of the uniform struct named `p`, by field name. */
  params?: Record<string, number>;
  workgroups: [number, number?, number?];
}

type DeviceLostListener = (error: GpuDeviceLostError) => void;

interface CompiledKernel {
  pipeline: GPUComputePipeline;
  defs: ShaderDataDefinitions;
}

export class GpuRuntime {
  readonly host: GpuHost;
  private readonly gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  summary: AdapterSummary;
  private readonly pipelines = new Map<string, Promise<CompiledKernel>>();
  private readonly reflections = new Map<string, ShaderDataDefinitions>();
  private readonly tensors = new Set<GpuTensor>();
  private readonly lostListeners = new Set<DeviceLostListener>();
  private readonly readbackPool: GPUBuffer[] = [];
  private encoder: GPUCommandEncoder | null = null;
  private pendingUniforms: GPUBuffer[] = [];
  private closing = false;
  /** Set while the device is lost and not yet recovered. */
  lostError: GpuDeviceLostError | null = null;
  /** WebGPU errors that no error scope caught (a bug in headlab if ever non-empty); tests assert it stays empty. */
  readonly uncapturedErrors: string[] = [];
  /** Kernel choices forced for every call (benchmarks compare them); unset: each runner picks for the adapter and shape. */
  readonly options: { matmul?: 'wide' | 'tiled' | 'direct' } = {};
  /** Dispatches recorded since the runtime was created (benchmarks report them per forward pass and per step). */
  readonly stats = { dispatches: 0 };

  private constructor(gpu: GPU, host: GpuHost, adapter: GPUAdapter, device: GPUDevice) {
    this.gpu = gpu;
    this.host = host;
    this.adapter = adapter;
    this.device = device;
    this.summary = summarise(adapter, device, host);
    this.watchLoss();
  }

  /** Acquires an adapter and a device with the adapter's real limits and the optional features it has. */
  static async create(gpu: GPU | undefined | null, host: GpuHost): Promise<GpuRuntime> {
    const { adapter, device } = await acquire(gpu, host);
    return new GpuRuntime(gpu as GPU, host, adapter, device);
  }

  get features() {
    const f = this.device.features;
    return { timestampQuery: f.has('timestamp-query'), subgroups: f.has('subgroups'), shaderF16: f.has('shader-f16') };
  }

  get limits(): Record<LimitName, number> {
    return this.summary.limits;
  }

  // ---- device loss ---------------------------------------------------------------------------------------------

  onDeviceLost(listener: DeviceLostListener): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  private watchLoss() {
    const device = this.device;
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.uncapturedErrors.push(ev.error.message);
    };
    void device.lost.then((info) => {
      if (this.closing || device !== this.device) return;
      this.lostError = new GpuDeviceLostError(info.reason ?? 'unknown', info.message);
      for (const t of this.tensors) t.lost = true;
      for (const l of this.lostListeners) l(this.lostError);
    });
  }

  /** After device loss: a new adapter and device, a fresh pipeline cache, and every persistent tensor uploaded again. */
  async recover(): Promise<void> {
    const { adapter, device } = await acquire(this.gpu, this.host);
    this.adapter = adapter;
    this.device = device;
    this.summary = summarise(adapter, device, this.host);
    this.pipelines.clear();
    this.readbackPool.length = 0;
    this.encoder = null;
    this.pendingUniforms = [];
    this.lostError = null;
    this.watchLoss();
    for (const t of [...this.tensors]) {
      if (!t.host) {
        this.tensors.delete(t);
        continue;
      }
      t.buffer = this.rawBuffer(t.label, t.bytes, STORAGE_USAGE);
      device.queue.writeBuffer(t.buffer, 0, t.host.buffer, t.host.byteOffset, t.host.byteLength);
      t.lost = false;
    }
  }

  private assertUsable() {
    if (this.lostError) throw this.lostError;
  }

  // ---- buffers -------------------------------------------------------------------------------------------------

  /** Checks a size against the adapter's limits before asking for it, so the error names the tensor and the limit. */
  checkSize(label: string, bytes: number, usage: GPUBufferUsageFlags = STORAGE_USAGE) {
    const l = this.limits;
    if (bytes > l.maxBufferSize) throw new GpuLimitError(label, bytes, 'maxBufferSize', l.maxBufferSize);
    if (usage & GPUBufferUsage.STORAGE && bytes > l.maxStorageBufferBindingSize) {
      throw new GpuLimitError(label, bytes, 'maxStorageBufferBindingSize', l.maxStorageBufferBindingSize);
    }
  }

  private rawBuffer(label: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    this.checkSize(label, bytes, usage);
    return this.device.createBuffer({ label, size: align4(Math.max(bytes, 4)), usage });
  }

  /**
   * A storage tensor of `length` f32, filled from `data` when given. Allocation runs inside error scopes, so running out
   * of memory becomes a GpuOutOfMemoryError naming the tensor. `persistent` keeps the host copy for device-loss recovery.
   */
  async tensor(label: string, data: Float32Array | Uint32Array | number, opts: { persistent?: boolean } = {}): Promise<GpuTensor> {
    this.assertUsable();
    const length = typeof data === 'number' ? data : data.length;
    const bytes = length * 4;
    const device = this.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let buffer: GPUBuffer;
    try {
      buffer = this.rawBuffer(label, bytes, STORAGE_USAGE);
    } catch (e) {
      await device.popErrorScope();
      await device.popErrorScope();
      if (e instanceof RangeError) throw new GpuOutOfMemoryError(`tensor "${label}"`, bytes, e.message);
      throw e;
    }
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (oom) throw new GpuOutOfMemoryError(`tensor "${label}"`, bytes, oom.message);
    if (validation) throw new GpuValidationError(`tensor "${label}" (${bytes} bytes)`, validation.message);
    const host = typeof data === 'number' ? undefined : data;
    if (host) this.device.queue.writeBuffer(buffer, 0, host.buffer, host.byteOffset, host.byteLength);
    const t: GpuTensor = { label, buffer, length, bytes, host: opts.persistent ? host : undefined, lost: false };
    this.tensors.add(t);
    return t;
  }

  upload(t: GpuTensor, data: Float32Array | Uint32Array, offsetElements = 0) {
    this.assertUsable();
    if (offsetElements + data.length > t.length) {
      throw new RangeError(`upload of ${data.length} values at ${offsetElements} overflows tensor "${t.label}" of ${t.length}`);
    }
    this.flush();
    this.device.queue.writeBuffer(t.buffer, offsetElements * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Fills a tensor with one value — tests poison outputs with NaN before every kernel run. */
  fill(t: GpuTensor, value: number) {
    this.upload(t, new Float32Array(t.length).fill(value));
  }

  /** A u32 tensor (token ids, argmax) back to the host. */
  async readU32(t: GpuTensor, length = t.length, offsetElements = 0): Promise<Uint32Array> {
    const f = await this.read(t, length, offsetElements);
    return new Uint32Array(f.buffer, f.byteOffset, f.length);
  }

  /** Copies a tensor back to the host (flushing pending work first). Staging buffers are reused. */
  async read(t: GpuTensor, length = t.length, offsetElements = 0): Promise<Float32Array> {
    this.assertUsable();
    const bytes = length * 4;
    const staging = this.takeReadback(bytes);
    const enc = this.takeEncoder();
    enc.copyBufferToBuffer(t.buffer, offsetElements * 4, staging, 0, align4(bytes));
    this.flush();
    await staging.mapAsync(GPUMapMode.READ, 0, align4(bytes));
    const out = new Float32Array(staging.getMappedRange(0, align4(bytes)).slice(0, bytes));
    staging.unmap();
    this.readbackPool.push(staging);
    return out;
  }

  private takeReadback(bytes: number): GPUBuffer {
    const i = this.readbackPool.findIndex((b) => b.size >= bytes && b.size <= Math.max(4 * bytes, 1 << 16));
    if (i >= 0) return this.readbackPool.splice(i, 1)[0];
    return this.device.createBuffer({
      label: 'readback',
      size: align4(Math.max(bytes, 4)),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Frees a tensor. Work already recorded is submitted first: a command buffer that names a destroyed buffer is invalid
   * and WebGPU would drop all of it. */
  release(t: GpuTensor) {
    this.flush();
    this.tensors.delete(t);
    t.buffer.destroy();
  }

  // ---- kernels -------------------------------------------------------------------------------------------------

  reflect(code: string): ShaderDataDefinitions {
    let defs = this.reflections.get(code);
    if (!defs) {
      defs = makeShaderDataDefinitions(code);
      this.reflections.set(code, defs);
    }
    return defs;
  }

  /** Compiles once per (source, entry point, override constants); compilation errors name the kernel and the line. */
  pipeline(k: KernelSource): Promise<CompiledKernel> {
    const key = `${k.label}\u0000${k.entryPoint ?? 'main'}\u0000${JSON.stringify(k.constants ?? {})}\u0000${k.code}`;
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.compile(k);
      this.pipelines.set(key, p);
      p.catch(() => this.pipelines.delete(key));
    }
    return p;
  }

  private async compile(k: KernelSource): Promise<CompiledKernel> {
    const device = this.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: k.label, code: k.code });
    let pipeline: GPUComputePipeline | null = null;
    let thrown: unknown = null;
    try {
      pipeline = await device.createComputePipelineAsync({
        label: k.label,
        layout: 'auto',
        compute: { module, entryPoint: k.entryPoint ?? 'main', constants: k.constants as Record<string, number> },
      });
    } catch (e) {
      thrown = e;
    }
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (oom) throw new GpuOutOfMemoryError(`the pipeline of kernel "${k.label}"`, 0, oom.message);
    if (validation || thrown || !pipeline) {
      const info = await module.getCompilationInfo();
      const lines = info.messages
        .filter((m) => m.type === 'error')
        .map((m) => `line ${m.lineNum}:${m.linePos} ${m.message}`)
        .join('; ');
      const detail = lines || validation?.message || (thrown instanceof Error ? thrown.message : String(thrown));
      throw new GpuValidationError(`kernel "${k.label}"`, detail);
    }
    return { pipeline, defs: this.reflect(k.code) };
  }

  /** Records a copy of n values from src (at srcOffset) into dst (at dstOffset), in order with recorded dispatches. */
  copy(src: GpuTensor, dst: GpuTensor, n = src.length, srcOffset = 0, dstOffset = 0) {
    this.assertUsable();
    if (srcOffset + n > src.length || dstOffset + n > dst.length) {
      throw new RangeError(`copy: ${n} values from "${src.label}"@${srcOffset} to "${dst.label}"@${dstOffset} do not fit (${src.length}, ${dst.length})`);
    }
    if (n > 0) this.takeEncoder().copyBufferToBuffer(src.buffer, srcOffset * 4, dst.buffer, dstOffset * 4, n * 4);
  }

  /** Records the zeroing of a whole tensor, in order with recorded dispatches (gradients before each step). */
  zero(t: GpuTensor) {
    this.assertUsable();
    this.takeEncoder().clearBuffer(t.buffer, 0, align4(t.bytes));
  }

  /** Records one dispatch; work is submitted by flush() or any read(). */
  async run(k: KernelSource, r: KernelRun): Promise<void> {
    this.assertUsable();
    const { pipeline, defs } = await this.pipeline(k);
    const entries: GPUBindGroupEntry[] = [];
    // Only the variables this entry point uses are in its 'auto' layout.
    const used = new Set((defs.entryPoints[k.entryPoint ?? 'main']?.resources ?? []).map((res) => res.name));
    for (const [name, def] of Object.entries(defs.storages)) {
      if (used.size && !used.has(name)) continue;
      const b = r.buffers[name];
      if (!b) throw new Error(`kernel "${k.label}": no buffer given for storage variable "${name}"`);
      const buffer = isTensor(b) ? b.buffer : b;
      entries.push({ binding: def.binding, resource: { buffer } });
    }
    const uniform = defs.uniforms.p;
    if (uniform && (!used.size || used.has('p'))) {
      const view: StructuredView = makeStructuredView(uniform);
      view.set(r.params ?? {});
      const ub = this.device.createBuffer({
        label: `${k.label} params`,
        size: view.arrayBuffer.byteLength,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      this.device.queue.writeBuffer(ub, 0, view.arrayBuffer);
      this.pendingUniforms.push(ub);
      entries.push({ binding: uniform.binding, resource: { buffer: ub } });
    }
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.takeEncoder().beginComputePass({ label: k.label });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = r.workgroups;
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim) {
      throw new GpuLimitError(`dispatch of ${k.label}`, Math.max(x, y, z), 'maxComputeWorkgroupsPerDimension', maxDim);
    }
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.stats.dispatches++;
  }

  private takeEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  /** Submits recorded work. */
  flush() {
    if (!this.encoder) return;
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    const uniforms = this.pendingUniforms;
    this.pendingUniforms = [];
    if (uniforms.length) void this.device.queue.onSubmittedWorkDone().then(() => uniforms.forEach((u) => u.destroy()));
  }

  /** Waits until the GPU has finished everything submitted. */
  async finish(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Splits a count of workgroups into a 2-D grid that respects maxComputeWorkgroupsPerDimension. */
  grid(workgroups: number): [number, number] {
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (workgroups <= max) return [Math.max(workgroups, 1), 1];
    const y = Math.ceil(workgroups / max);
    return [Math.ceil(workgroups / y), y];
  }

  destroy() {
    this.closing = true;
    for (const t of this.tensors) t.buffer.destroy();
    this.tensors.clear();
    this.device.destroy();
  }
}

const STORAGE_USAGE = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC (GPUBufferUsage may not exist before acquisition)

function isTensor(b: GpuTensor | GPUBuffer): b is GpuTensor {
  return 'bytes' in b && 'buffer' in b;
}

function align4(n: number) {
  return Math.ceil(n / 4) * 4;
}
