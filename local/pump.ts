import type { QueueClient, QueueServiceClient } from "@azure/storage-queue";
import { ensureError } from "../shared/errors.js";
import type { QueueHostSettings } from "../shared/hostSettings.js";
import { line, type Logger } from "../shared/log.js";

export interface Delivered {
  id: string;
  dequeueCount: number;
}

export interface PumpOptions {
  service: QueueServiceClient;
  queueName: string;
  settings: QueueHostSettings;
  /** Called with the message as the Functions runtime hands it over: base64-decoded, JSON parsed when it is JSON. */
  handler: (message: unknown, delivery: Delivered) => Promise<void>;
  logger: Logger;
  /** How long a received message stays invisible while its handler runs (the runtime renews it; we use a long lease). */
  leaseMs?: number;
  /** Overrides host.json's visibilityTimeout (the delay before a failed message is retried), e.g. 0 in tests. */
  retryDelayMs?: number;
}

/**
 * Plays the Functions runtime's queue trigger on a laptop and in tests, with host.json's semantics:
 * up to batchSize messages in flight, a failed message retried after visibilityTimeout, and moved to
 * `<queue>-poison` once it has failed maxDequeueCount times.
 */
export class QueuePump {
  private inFlight = 0;
  private stopped = true;
  private loop: Promise<void> | undefined;
  readonly stats = { handled: 0, failed: 0, poisoned: 0 };
  readonly queue: QueueClient;
  /** Beside the queue, in the same account, as the runtime keeps it. */
  readonly poison: QueueClient;

  constructor(private readonly options: PumpOptions) {
    this.queue = options.service.getQueueClient(options.queueName);
    this.poison = options.service.getQueueClient(`${options.queueName}-poison`);
  }

  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** Receives one batch (as many as batchSize allows) and handles it; resolves when the batch is done. */
  async pumpOnce(): Promise<number> {
    const { queue } = this;
    const { settings } = this.options;
    const room = settings.batchSize - this.inFlight;
    if (room <= 0) return 0;
    const received = await queue.receiveMessages({
      numberOfMessages: Math.min(32, room),
      visibilityTimeout: Math.ceil((this.options.leaseMs ?? 600_000) / 1000),
    });
    await Promise.all(received.receivedMessageItems.map((m) => this.handle(m.messageId, m.popReceipt, m.messageText, m.dequeueCount)));
    return received.receivedMessageItems.length;
  }

  private async handle(id: string, popReceipt: string, text: string, dequeueCount: number): Promise<void> {
    const { queue } = this;
    const { settings, logger } = this.options;
    this.inFlight++;
    try {
      await this.options.handler(decode(text, settings.messageEncoding), { id, dequeueCount });
      await queue.deleteMessage(id, popReceipt);
      this.stats.handled++;
    } catch (error) {
      this.stats.failed++;
      const message = ensureError(error).message;
      if (dequeueCount >= settings.maxDequeueCount) {
        await this.poison.createIfNotExists();
        await this.poison.sendMessage(text);
        await queue.deleteMessage(id, popReceipt);
        this.stats.poisoned++;
        logger.error(line(queue.name, "poisoned", id, { dequeueCount, error: message }));
      } else {
        const delay = this.options.retryDelayMs ?? settings.visibilityTimeoutMs;
        await queue.updateMessage(id, popReceipt, undefined, Math.ceil(delay / 1000));
        logger.warn(line(queue.name, "failed", id, { dequeueCount, retryInMs: delay, error: message }));
      }
    } finally {
      this.inFlight--;
    }
  }

  /** Polls until stopped, keeping up to batchSize handlers busy. */
  start(pollMs = 100): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = (async () => {
      while (!this.stopped) {
        let got = 0;
        try {
          got = await this.pumpOnce();
        } catch (error) {
          this.options.logger.warn(line(this.queue.name, "poll-failed", "-", { error: ensureError(error).message }));
        }
        if (got === 0) await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

function decode(text: string, encoding: "base64" | "none"): unknown {
  const raw = encoding === "base64" ? Buffer.from(text, "base64").toString("utf8") : text;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Runs pumps until every queue is empty and nothing is in flight, or the deadline passes. */
export async function drain(pumps: QueuePump[], options: { deadlineMs?: number; until?: () => Promise<boolean> } = {}): Promise<void> {
  const deadline = Date.now() + (options.deadlineMs ?? 120_000);
  for (;;) {
    let got = 0;
    for (const pump of pumps) got += await pump.pumpOnce();
    if (got === 0) {
      if (options.until ? await options.until() : await allEmpty(pumps)) return;
      if (Date.now() > deadline) throw new Error("queues did not drain before the deadline");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function allEmpty(pumps: QueuePump[]): Promise<boolean> {
  for (const pump of pumps) {
    if (pump.busy) return false;
    const props = await pump.queue.getProperties();
    if ((props.approximateMessagesCount ?? 0) > 0) return false;
  }
  return true;
}
