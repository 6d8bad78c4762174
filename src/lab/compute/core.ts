// What the compute core's jobs see of the core (src/lab/compute/host.ts holds the state, src/lab/compute/jobs.ts the job
// table): the models and results it keeps, the device, and a running job's context. Types only, so that the host and the
// jobs depend on this module and not on each other.
import type { GpuRuntime } from '../../gpu/runtime';
import type { GpuModel } from '../../eval/gpuModel';
import type { LoadedModel } from '../../model/load';
import type { Model } from '../../model/types';
import type { ExportFile } from '../../fusion/export';
import type { FusionRecord } from '../../fusion/record';
import type { SourceModel } from '../fusionRun';
import type { StepGate } from '../gate';
import type { Jobs, JobType, Request } from './protocol';

/** A loaded model the core keeps: fusionRun's SourceModel with its id and its weights on the GPU once uploaded. */
export interface HeldModel extends SourceModel {
  id: number;
  gpu: Promise<GpuModel> | null;
}

/** A fused result the core keeps for downloads and continuations. */
export interface HeldResult {
  id: number;
  source: HeldModel;
  fused: Model;
  tokenizerFiles: ExportFile[];
  experiment: FusionRecord;
  files: ExportFile[] | null;
}

/** The core as a job sees it. */
export interface CoreState {
  readonly models: Map<number, HeldModel>;
  readonly results: Map<number, HeldResult>;
  rt(): Promise<GpuRuntime>;
  newId(): number;
  hold(loaded: LoadedModel, tokenizerFiles: [string, Blob][]): HeldModel;
  model(id: number): HeldModel;
  result(id: number): HeldResult;
}

/** What a running job's handler gets: the core, a way to send events, cancel and pause. */
export interface JobContext<T extends JobType> {
  host: CoreState;
  signal: AbortSignal;
  gate: StepGate;
  emit: (event: Jobs[T]['event']) => void;
}

export type Handler<T extends JobType> = (
  args: Extract<Request, { type: T }>,
  ctx: JobContext<T>,
) => Promise<{ result: Jobs[T]['result']; transfer?: Transferable[] }>;

/** The job table: one handler per job type (src/lab/compute/jobs.ts), given to the host when it is made. */
export type JobTable = { [T in JobType]: Handler<T> };
