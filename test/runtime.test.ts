// The GPU runtime's errors and recovery: each failure names what failed and leaves the runtime usable.
import { describe, expect, it } from 'vitest';
import { createNodeRuntime } from '../src/gpu/node';
import { GpuRuntime } from '../src/gpu/runtime';
import { GpuDeviceLostError, GpuLimitError, GpuValidationError, WebGpuUnavailableError } from '../src/gpu/errors';
import { matmul } from '../src/gpu/kernels/matmul';
import { randomArray, matmulRef, relativeError } from '../src/reference/linalg';

describe('GPU runtime', () => {
  it('asks for the adapter limits and optional features it has', async () => {
    const rt = await createNodeRuntime();
    const a = rt.adapter.limits as unknown as Record<string, number>;
    expect(rt.limits.maxStorageBufferBindingSize).toBe(a.maxStorageBufferBindingSize);
    expect(rt.limits.maxComputeWorkgroupStorageSize).toBe(a.maxComputeWorkgroupStorageSize);
    expect(rt.limits.maxComputeInvocationsPerWorkgroup).toBe(a.maxComputeInvocationsPerWorkgroup);
    for (const f of ['timestamp-query', 'subgroups', 'shader-f16']) {
      expect(rt.device.features.has(f)).toBe(rt.adapter.features.has(f));
    }
    rt.destroy();
  });

  it('refuses a tensor larger than a storage binding, naming tensor, bytes and limit', async () => {
    const rt = await createNodeRuntime();
    const n = rt.limits.maxStorageBufferBindingSize / 4 + 1;
    const err = await rt.tensor('layers.0.attention.wq', n).catch((e) => e);
    expect(err).toBeInstanceOf(GpuLimitError);
    expect(err.message).toMatch(/layers\.0\.attention\.wq/);
    expect(err.message).toMatch(/maxStorageBufferBindingSize|maxBufferSize/);
    // still usable
    const t = await rt.tensor('ok', new Float32Array([1, 2, 3]));
    expect([...(await rt.read(t))]).toEqual([1, 2, 3]);
    rt.destroy();
  });

  it('reports a WGSL compile error with the kernel name and line', async () => {
    const rt = await createNodeRuntime();
    const code = '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() {\n  y[0] = undefined_thing;\n}';
    const err = await rt.run({ code, label: 'broken-kernel' }, { buffers: { y: await rt.tensor('y', 1) }, workgroups: [1] }).catch((e) => e);
    expect(err).toBeInstanceOf(GpuValidationError);
    expect(err.message).toMatch(/broken-kernel/);
    expect(err.message).toMatch(/line 3/);
    rt.destroy();
  });

  it('names the missing storage buffer of a kernel', async () => {
    const rt = await createNodeRuntime();
    const code = '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() { y[0] = 1.0; }';
    await expect(rt.run({ code, label: 'k' }, { buffers: {}, workgroups: [1] })).rejects.toThrow(/storage variable "y"/);
    rt.destroy();
  });

  it('releasing an input while its work is only recorded still computes the result (work is submitted first)', async () => {
    const rt = await createNodeRuntime();
    const a = randomArray(5 * 3, 1);
    const b = randomArray(3 * 4, 2);
    const A = await rt.tensor('A', a);
    const B = await rt.tensor('B', b);
    const C = await rt.tensor('C', 20);
    rt.fill(C, NaN);
    await matmul(rt, A, B, C, { M: 5, N: 4, K: 3 });
    rt.release(A);
    rt.release(B);
    expect(relativeError(await rt.read(C), matmulRef(a, b, { M: 5, N: 4, K: 3 }))).toBeLessThan(1e-5);
    rt.destroy();
  });

  it('without WebGPU, says what to do (browser: the Chrome flag; Node: a Vulkan driver)', async () => {
    await expect(GpuRuntime.create(undefined, 'browser')).rejects.toThrow(/enable-unsafe-webgpu/);
    await expect(GpuRuntime.create(undefined, 'node')).rejects.toThrow(/Vulkan/);
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    const err = await GpuRuntime.create(noAdapter, 'browser').catch((e) => e);
    expect(err).toBeInstanceOf(WebGpuUnavailableError);
    expect(err.message).toMatch(/No WebGPU adapter/);
  });

  it('after device loss, tells its listeners and recovers: new device, persistent tensors uploaded again', async () => {
    const rt = await createNodeRuntime();
    const a = randomArray(7 * 9, 1);
    const b = randomArray(9 * 5, 2);
    const A = await rt.tensor('weights', a, { persistent: true });
    const B = await rt.tensor('input', b, { persistent: true });
    const scratch = await rt.tensor('scratch', 10);
    const lost = new Promise<GpuDeviceLostError>((resolve) => rt.onDeviceLost(resolve));
    const oldDevice = rt.device;
    oldDevice.destroy(); // as if the driver reset: the runtime did not ask for it
    const error = await lost;
    expect(error).toBeInstanceOf(GpuDeviceLostError);
    expect(error.message).toMatch(/device was lost/);
    await expect(rt.read(A)).rejects.toBeInstanceOf(GpuDeviceLostError);
    expect(scratch.lost).toBe(true);

    await rt.recover();
    expect(rt.device).not.toBe(oldDevice);
    expect(A.lost).toBe(false);
    const C = await rt.tensor('out', 7 * 5);
    rt.fill(C, NaN);
    await matmul(rt, A, B, C, { M: 7, N: 5, K: 9 });
    expect(relativeError(await rt.read(C), matmulRef(a, b, { M: 7, N: 5, K: 9 }))).toBeLessThan(1e-5);
    rt.destroy();
  });
});
