export declare const SWIFTSHADER_DIRS: string[];
export declare function systemVulkanDrivers(env?: NodeJS.ProcessEnv): string[];
export declare function webgpuEnvironment(env?: NodeJS.ProcessEnv): {
  env: NodeJS.ProcessEnv;
  backend: 'vulkan' | 'swiftshader' | 'none';
  changed: boolean;
};
export declare const NO_DRIVER_HELP: string;
