export declare const SWIFTSHADER_DIRS: string[];
export declare function icdDirs(env?: NodeJS.ProcessEnv): string[];
export declare function systemVulkanDrivers(env?: NodeJS.ProcessEnv): string[];
export interface ProbedAdapter {
  vendor: string;
  architecture: string;
  fallback: boolean;
}
export declare function probeAdapter(env: NodeJS.ProcessEnv): ProbedAdapter | null;
export declare function webgpuEnvironment(
  env?: NodeJS.ProcessEnv,
  probe?: (env: NodeJS.ProcessEnv) => ProbedAdapter | null,
): {
  env: NodeJS.ProcessEnv;
  backend: 'vulkan' | 'swiftshader' | 'none';
  changed: boolean;
  note: string | null;
};
export declare const NO_DRIVER_HELP: string;
