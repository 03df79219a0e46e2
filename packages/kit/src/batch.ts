import { Code, ConnectError } from "@connectrpc/connect";
import { context, ROOT_CONTEXT, type Context } from "@opentelemetry/api";
import { inBatchSpan, tracingEnabled } from "./tracing.js";

export interface BatcherOptions<I, O> {
  /**
   * Runs one batch and answers one outcome per item, in item order; an Error outcome fails
   * only its item. A throw (or a wrong number of outcomes) fails the whole batch.
   */
  run(items: I[]): Promise<(O | Error)[]>;
  /** The most items one batch takes. */
  maxBatch: number;
  /** Batches running at once; while all are busy, new items wait and form the next batch. */
  maxInFlight: number;
  /** Called with each batch's size (for a histogram). */
  onBatch?: (size: number) => void;
  /** Names the batch's span when tracing is on (e.g. "send"). */
  name?: string;
  /**
   * The most items that may wait for a batch (not counting those in flight). Past it an item
   * is refused at once with `overloaded()` instead of queueing: load beyond what the batches
   * can carry is shed early, so memory and waiting stay bounded. Unbounded when unset.
   */
  maxQueued?: number;
  /**
   * The longest an item may wait for its batch. An item older than this when its batch is
   * formed is refused with `overloaded()` instead of sent: under overload it would only run
   * into its caller's deadline, after taking a place in the batch. Unbounded when unset.
   */
  maxWaitMs?: number;
  /**
   * Sheds a standing queue. Once items have been left behind by full batch slots for this
   * long, the batcher is running behind its arrivals and only queueing would make every
   * answer later: while it stays behind, a new item is refused at once when a full round
   * (`maxBatch` × `maxInFlight`) already waits, so what is accepted waits about two batches,
   * not `maxWaitMs`. A burst shorter than this still queues, up to `maxQueued`. Off when unset.
   */
  shedBacklogAfterMs?: number;
  /** The refusal of an item when the queue is full or it waited too long (default: ResourceExhausted). */
  overloaded?: () => Error;
  /** Called for each item refused because the queue was full (for a metric). */
  onShed?: () => void;
}

/** The error an item gets when a batcher's queue is full: ResourceExhausted, retry later. */
export const queueFull = (what: string) =>
  new ConnectError(`${what} is overloaded: too much work is waiting; retry in a few seconds`, Code.ResourceExhausted);

/** A batcher: adds an item, with an optional deadline, and answers its outcome. */
export interface Batcher<I, O> {
  /**
   * Queues `item` for a batch. `deadline` (a `performance.now()` time) is when its caller
   * stops waiting: an item whose batch would start later is refused with `overloaded()`
   * rather than sent, as it is past `maxWaitMs` after it was queued.
   */
  (item: I, deadline?: number): Promise<O>;
  /** True while a new item would be refused for the standing queue (`shedBacklogAfterMs`). */
  readonly shedding: boolean;
}

interface Pending<I, O> {
  item: I;
  /** When it must have left in a batch (performance.now()): its deadline or maxWaitMs. */
  deadline: number;
  /** The caller's trace, when tracing is on. */
  trace: Context | undefined;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: items are gathered while earlier batches run and sent together when a slot
 * frees. An idle batcher sends on the next turn of the event loop (everything that arrived
 * in the same I/O phase goes together), so light load adds no timer delay, and batches grow
 * by themselves as load grows. DataLoader batches per tick but cannot bound the batches in
 * flight, and that bound is what makes batches grow, so this is kept here.
 */
export function createBatcher<I, O>(options: BatcherOptions<I, O>): Batcher<I, O> {
  const { run, maxBatch, maxInFlight } = options;
  if (maxBatch < 1 || maxInFlight < 1) throw new Error("maxBatch and maxInFlight must be at least 1");
  let queue: Pending<I, O>[] = [];
  let inFlight = 0;
  let scheduled = false;
  /** Since when items have been left behind by full slots (performance.now()); null when caught up. */
  let behindSince: number | null = null;
  const maxWaitMs = options.maxWaitMs ?? Infinity;
  const round = maxBatch * maxInFlight;

  const settle = (batch: Pending<I, O>[], outcomes: (O | Error)[]) => {
    if (outcomes.length !== batch.length) {
      const err = new Error(`a batch of ${batch.length} answered ${outcomes.length} outcomes`);
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => {
      const outcome = outcomes[i]!;
      if (outcome instanceof Error) p.reject(outcome);
      else p.resolve(outcome);
    });
  };

  const start = (batch: Pending<I, O>[]) => {
    inFlight++;
    options.onBatch?.(batch.length);
    let running: Promise<(O | Error)[]>;
    try {
      const items = batch.map((p) => p.item);
      running = tracingEnabled()
        ? inBatchSpan(`batch ${options.name ?? "run"}`, batch.map((p) => p.trace ?? ROOT_CONTEXT), () => run(items))
        : run(items);
    } catch (err) {
      running = Promise.reject(err);
    }
    running
      .then(
        (outcomes) => settle(batch, outcomes),
        (err: unknown) => batch.forEach((p) => p.reject(err)),
      )
      .finally(() => {
        inFlight--;
        kick();
      });
  };

  const refuse = options.overloaded ?? (() => queueFull(options.name ?? "this service"));

  const shed = (p: Pending<I, O>) => {
    options.onShed?.();
    p.reject(refuse());
  };

  /** Refuses the items whose deadline has passed: their callers would get the answer too late. */
  const dropStale = () => {
    const now = performance.now();
    if (!queue.some((p) => p.deadline < now)) return;
    const fresh: Pending<I, O>[] = [];
    for (const p of queue) {
      if (p.deadline < now) shed(p);
      else fresh.push(p);
    }
    queue = fresh;
  };

  const flush = () => {
    scheduled = false;
    dropStale();
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      start(batch);
    }
    // Items left behind with every slot taken: arrivals outrun the batches.
    if (queue.length === 0) behindSince = null;
    else behindSince ??= performance.now();
  };

  /** Whether a new item would be refused now for the standing queue (see shedBacklogAfterMs). */
  const shedding = () =>
    options.shedBacklogAfterMs !== undefined && queue.length >= round && behindSince !== null && performance.now() - behindSince > options.shedBacklogAfterMs;

  const kick = () => {
    if (scheduled || inFlight >= maxInFlight || queue.length === 0) return;
    scheduled = true;
    setImmediate(flush);
  };

  const add = (item: I, deadline?: number) =>
    new Promise<O>((resolve, reject) => {
      const now = performance.now();
      const due = Math.min(deadline ?? Infinity, now + maxWaitMs);
      const full = (options.maxQueued !== undefined && queue.length >= options.maxQueued) || shedding();
      if (full || due <= now) {
        options.onShed?.();
        reject(refuse());
        return;
      }
      queue.push({ item, deadline: due, trace: tracingEnabled() ? context.active() : undefined, resolve, reject });
      kick();
    });
  return Object.defineProperty(add, "shedding", { get: shedding }) as Batcher<I, O>;
}
