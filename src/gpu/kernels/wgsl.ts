// WGSL has no include: the library parts in shaders/lib/ are put in front of the shaders that call them, as an include
// would. Their parameters and locals must not share a name with a binding of those shaders: the reflection that finds an
// entry point's bindings (webgpu-utils) would count that name as the binding used.
import workgroupReduce from '../../../shaders/lib/workgroup_reduce.wgsl?raw';
import attentionForward from '../../../shaders/lib/attention_forward.wgsl?raw';

/** A shader's source with workgroupSum / workgroupMax (shaders/lib/workgroup_reduce.wgsl) in front; the shader defines `const WG`. */
export const withWorkgroupReduce = (code: string): string => `${workgroupReduce}\n${code}`;

/** A forward attention shader's source with Params, firstKey and cacheBases (shaders/lib/attention_forward.wgsl) in front. */
export const withAttentionForward = (code: string): string => `${attentionForward}\n${code}`;
