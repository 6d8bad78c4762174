// The compute core of the page: one GPU device, the loaded models and the fused results, and every long job (loading,
// similarity, perplexity, generation, fusion and training, the self-test) run as messages in and events out. DOM-free: it
// runs in src/lab/compute/compute.worker.ts, or on the page itself where WebGPU exists only there. Pause, Step and Cancel
// reach a running job by its id; device loss is recovered here and announced to the page.
import { createBrowserRuntime } from '../../gpu/browser';
import type { GpuRuntime } from '../../gpu/runtime';
import { GpuModel } from '../../eval/gpuModel';
import type { LoadedModel } from '../../model/load';
import { StepGate } from '../gate';
import { isControl, type Control, type JobType, type Message, type Reply, type Request } from './protocol';
import type { CoreState, HeldModel, HeldResult, JobContext, JobTable } from './core';

type Post = (reply: Reply, transfer?: Transferable[]) => void;

export class ComputeHost implements CoreState {
  private runtime: Promise<GpuRuntime> | null = null;
  readonly models = new Map<number, HeldModel>();
  readonly results = new Map<number, HeldResult>();
  private readonly jobs = new Map<number, { controller: AbortController; gate: StepGate }>();
  private nextId = 1;

  constructor(
    private readonly post: Post,
    private readonly jobTable: JobTable,
  ) {}

  /** The device, acquired on first use; device loss is recovered and announced. */
  rt(): Promise<GpuRuntime> {
    if (!this.runtime) {
      this.runtime = createBrowserRuntime().then((rt) => {
        rt.onDeviceLost((e) => {
          this.post({ id: 0, kind: 'notice', status: 'lost', message: e.message });
          rt.recover().then(
            () => {
              for (const m of this.models.values()) m.gpu = null;
              this.post({ id: 0, kind: 'notice', status: 'recovered', message: 'The GPU device was lost and has been recreated. Run the last step again.' });
            },
            (err: unknown) => this.post({ id: 0, kind: 'notice', status: 'failed', message: err instanceof Error ? err.message : String(err) }),
          );
        });
        return rt;
      });
      this.runtime.catch(() => (this.runtime = null));
    }
    return this.runtime;
  }

  newId(): number {
    return this.nextId++;
  }

  /** Keeps a loaded model; its weights go to the GPU on first use. */
  hold(loaded: LoadedModel, tokenizerFiles: [string, Blob][]): HeldModel {
    const m: HeldModel = {
      id: this.newId(),
      loaded,
      tokenizerFiles,
      gpu: null,
      gpuModel: () => {
        if (!m.gpu) {
          m.gpu = this.rt().then((rt) => GpuModel.upload(rt, loaded.model));
          m.gpu.catch(() => (m.gpu = null));
        }
        return m.gpu;
      },
    };
    this.models.set(m.id, m);
    return m;
  }

  model(id: number): HeldModel {
    const m = this.models.get(id);
    if (!m) throw new Error(`model ${id} is no longer loaded`);
    return m;
  }

  result(id: number): HeldResult {
    const r = this.results.get(id);
    if (!r) throw new Error(`result ${id} is no longer kept (reset or reloaded)`);
    return r;
  }

  async handle(message: Message): Promise<void> {
    if (isControl(message)) return this.control(message);
    const req = message;
    const controller = new AbortController();
    const gate = new StepGate((waiting) => this.post({ id: req.id, kind: 'event', event: { waiting } }));
    this.jobs.set(req.id, { controller, gate });
    try {
      const handler = this.jobTable[req.type] as (args: Request, ctx: JobContext<JobType>) => Promise<{ result: unknown; transfer?: Transferable[] }>;
      const { result, transfer } = await handler(req, {
        host: this,
        signal: controller.signal,
        gate,
        emit: (event) => this.post({ id: req.id, kind: 'event', event }),
      });
      this.post({ id: req.id, kind: 'done', result }, transfer);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.post({ id: req.id, kind: 'error', name: err.name, message: err.message });
    } finally {
      this.jobs.delete(req.id);
    }
  }

  private control(c: Control) {
    const job = this.jobs.get(c.id);
    if (!job) return;
    if (c.control === 'cancel') {
      job.controller.abort();
      job.gate.wake();
    } else if (c.control === 'pause') job.gate.pause();
    else if (c.control === 'resume') job.gate.resume();
    else job.gate.step();
  }
}
