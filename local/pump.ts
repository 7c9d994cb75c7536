import type { QueueClient, QueueServiceClient } from "@azure/storage-queue";
import { poisonQueueOf } from "../shared/config.js";
import { ensureError, statusOf } from "../shared/errors.js";
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
  /** The chaos run's delivery faults; none by default. */
  deliveryFaults?: DeliveryFaults;
}

/**
 * What a queue may do to a message besides delivering it once, as the Functions runtime and the
 * queue service can: deliver it again (at-least-once), deliver it late, or deliver two copies at once.
 */
export interface DeliveryFaults {
  /** Seconds to hide a received message before it is handled (0: handle it now). */
  delaySeconds(): number;
  /** After a success, leave the message to be delivered again instead of deleting it. */
  redeliver(): boolean;
  /** Before handling, send a copy of the message, so two handlers may run on it at once. */
  duplicate(): boolean;
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
  readonly stats = { handled: 0, failed: 0, poisoned: 0, delayed: 0, redelivered: 0, duplicated: 0, settleFailed: 0 };
  readonly queue: QueueClient;
  /** Beside the queue, in the same account, as the runtime keeps it. */
  readonly poison: QueueClient;

  constructor(private readonly options: PumpOptions) {
    this.queue = options.service.getQueueClient(options.queueName);
    this.poison = options.service.getQueueClient(poisonQueueOf(options.queueName));
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
    let received;
    try {
      received = await queue.receiveMessages({
        numberOfMessages: Math.min(32, room),
        visibilityTimeout: Math.ceil((this.options.leaseMs ?? 600_000) / 1000),
      });
    } catch (error) {
      // A poison queue exists only once the runtime has moved a message there.
      if (isMissingQueue(error)) return 0;
      throw error;
    }
    await Promise.all(received.receivedMessageItems.map((m) => this.handle(m.messageId, m.popReceipt, m.messageText, m.dequeueCount)));
    return received.receivedMessageItems.length;
  }

  private async handle(id: string, popReceipt: string, text: string, dequeueCount: number): Promise<void> {
    const { queue } = this;
    const { settings, logger, deliveryFaults: faults } = this.options;
    this.inFlight++;
    try {
      const delay = faults?.delaySeconds() ?? 0;
      if (delay > 0) {
        this.stats.delayed++;
        await this.settle("delay", id, () => queue.updateMessage(id, popReceipt, undefined, delay));
        return;
      }
      if (faults?.duplicate()) {
        this.stats.duplicated++;
        await this.settle("duplicate", id, () => queue.sendMessage(text));
      }
      let failure: unknown;
      try {
        await this.options.handler(decode(text, settings.messageEncoding), { id, dequeueCount });
      } catch (error) {
        failure = error ?? new Error("handler failed");
      }
      if (failure === undefined) {
        this.stats.handled++;
        if (faults?.redeliver()) {
          this.stats.redelivered++;
          await this.settle("redeliver", id, () => queue.updateMessage(id, popReceipt, undefined, 0));
        } else {
          await this.settle("delete", id, () => queue.deleteMessage(id, popReceipt));
        }
        return;
      }
      this.stats.failed++;
      const message = ensureError(failure).message;
      if (dequeueCount >= settings.maxDequeueCount) {
        const poisoned = await this.settle("poison", id, async () => {
          await this.poison.createIfNotExists();
          await this.poison.sendMessage(text);
          await queue.deleteMessage(id, popReceipt);
        });
        if (poisoned) {
          this.stats.poisoned++;
          logger.error(line(queue.name, "poisoned", id, { dequeueCount, error: message }));
        }
      } else {
        const delay = settings.visibilityTimeoutMs;
        await this.settle("retry", id, () => queue.updateMessage(id, popReceipt, undefined, Math.ceil(delay / 1000)));
        logger.warn(line(queue.name, "failed", id, { dequeueCount, retryInMs: delay, error: message }));
      }
    } finally {
      this.inFlight--;
    }
  }

  /**
   * Deletes, hides or moves a message after its handler. When the queue cannot be reached, the message
   * is left as it is: it comes back when its lease ends, and is delivered again, as in Azure.
   */
  private async settle(step: string, id: string, work: () => Promise<unknown>): Promise<boolean> {
    try {
      await work();
      return true;
    } catch (error) {
      this.stats.settleFailed++;
      this.options.logger.warn(line(this.queue.name, "settle-failed", id, { step, error: ensureError(error).message }));
      return false;
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
    for (const pump of pumps) {
      try {
        got += await pump.pumpOnce();
      } catch (error) {
        // The queue is unreachable for now (a storage outage): as the runtime does, poll again later.
        if (Date.now() > deadline) throw error;
      }
    }
    if (got === 0) {
      if (options.until ? await options.until() : await queuesIdle(pumps)) return;
      if (Date.now() > deadline) throw new Error("queues did not drain before the deadline");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Whether every pump's queue is empty (a queue not created yet counts as empty) and nothing is in flight. */
export async function queuesIdle(pumps: QueuePump[]): Promise<boolean> {
  for (const pump of pumps) {
    if (pump.busy) return false;
    let messages: number | undefined;
    try {
      messages = (await pump.queue.getProperties()).approximateMessagesCount ?? 0;
    } catch (error) {
      if (!isMissingQueue(error)) return false;
    }
    if ((messages ?? 0) > 0) return false;
  }
  return true;
}

function isMissingQueue(error: unknown): boolean {
  return statusOf(error) === 404;
}
