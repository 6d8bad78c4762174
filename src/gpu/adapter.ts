// Adapter and device acquisition with the adapter's real limits and the optional features it has, and the summary of both
// that the runtime, the GPU panel and the command line show.
import { WebGpuUnavailableError, type GpuHost } from './errors';

/** Limits headlab asks for at the adapter's real values (the defaults are far smaller than what GPUs offer). */
export const REQUESTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;
export type LimitName = (typeof REQUESTED_LIMITS)[number];

/** Optional features used when present; an f32 path without any of them always works. */
export const OPTIONAL_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16'] as const;

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<LimitName, number>;
  host: GpuHost;
}

export async function acquire(gpu: GPU | undefined | null, host: GpuHost): Promise<{ adapter: GPUAdapter; device: GPUDevice }> {
  if (!gpu) {
    throw new WebGpuUnavailableError(host, host === 'node' ? 'Dawn could not be loaded.' : 'This browser does not expose WebGPU (navigator.gpu is missing).');
  }
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    throw new WebGpuUnavailableError(host, `Asking for a WebGPU adapter failed (${e instanceof Error ? e.message : String(e)}).`);
  }
  if (!adapter) throw new WebGpuUnavailableError(host, 'No WebGPU adapter is available.');
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label: 'headlab', requiredLimits, requiredFeatures });
  } catch (e) {
    throw new WebGpuUnavailableError(host, `The adapter refused to create a device (${e instanceof Error ? e.message : String(e)}).`);
  }
  return { adapter, device };
}

export function summarise(adapter: GPUAdapter, device: GPUDevice, host: GpuHost): AdapterSummary {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info ?? ({} as GPUAdapterInfo);
  const limits = {} as Record<LimitName, number>;
  for (const name of REQUESTED_LIMITS) limits[name] = (device.limits as unknown as Record<string, number>)[name];
  const fallback =
    (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    false;
  return {
    vendor: info.vendor || 'unknown',
    architecture: info.architecture || 'unknown',
    device: info.device || '',
    description: info.description || '',
    isFallbackAdapter: Boolean(fallback) || info.architecture === 'swiftshader',
    features: [...device.features].sort(),
    limits,
    host,
  };
}
