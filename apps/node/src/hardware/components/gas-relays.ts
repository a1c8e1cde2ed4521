// gas_relays: solenoid valves for gas (a CO2 and an N2 valve by default) on relays, one GPIO line each. Opened for a
// timed dose (`dose_s`, closed by the node) or opened and closed (`open`; the node still closes it after max_dose_s).
// Each relay's limits, a longest opening (max_dose_s) and openings per hour (max_doses_per_hour), refuse a command
// past them with 409 SAFETY_INTERLOCK; the safe state closes every valve, and so does the output supervisor when
// the node dies. What each relay has done (seconds open, doses) is counted in its state, the CSV and the manifest.
import { ApiError, type ComponentControls } from '@bioreactor/api';
import { Type } from 'typebox';
import { GpioRelay } from '../drivers/relay.js';
import type { GuardedOutput } from '../supervisor/outputs-off.mjs';
import { gpioLineDir } from '../transports/linux.js';
import { deviceFault, OK } from './actuator-kit.js';
import { type ComponentContext, type ConfigOf, defineComponent, iso, round } from './component.js';

const HOUR_MS = 3600_000;
const GASES = ['co2', 'n2', 'o2'] as const;

const config = {
  gas_relays: Type.Object(
    {
      relays: Type.Record(
        Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }),
        Type.Object(
          {
            gpio: Type.Integer({ minimum: 0, maximum: 27, description: 'BCM GPIO number of the relay input' }),
            gas: Type.Union(
              GASES.map((g) => Type.Literal(g)),
              { description: 'The gas it lets in: co2, n2 or o2' },
            ),
            active_low: Type.Optional(
              Type.Boolean({ description: 'The relay board opens on a low input (default false: high opens)' }),
            ),
            max_dose_s: Type.Optional(
              Type.Number({
                exclusiveMinimum: 0,
                maximum: 3600,
                description: 'Longest one opening may last, s (default 30): a longer dose is refused, an open closed',
              }),
            ),
            max_doses_per_hour: Type.Optional(
              Type.Integer({ minimum: 1, maximum: 3600, description: 'Openings allowed in any hour (default 12)' }),
            ),
            flow_ml_per_min: Type.Optional(
              Type.Number({ exclusiveMinimum: 0, description: 'The gas flow while open, mL/min (default 50)' }),
            ),
          },
          { additionalProperties: false },
        ),
        {
          default: { co2_valve: { gpio: 5, gas: 'co2' }, n2_valve: { gpio: 6, gas: 'n2' } },
          description: 'Relay name → its line, gas and limits',
        },
      ),
    },
    { additionalProperties: false, default: {} },
  ),
};
type Config = ConfigOf<typeof config>;
type RelayConfig = Config['gas_relays']['relays'][string];
type Body = ComponentControls['gas_relays'];

interface Relay {
  name: string;
  gas: RelayConfig['gas'];
  driver: GpioRelay;
  maxDoseS: number;
  maxPerHour: number;
  open: boolean;
  openedAt: number | null;
  closesAt: number | null;
  /** Closed time counted so far, ms (the current opening is added while it lasts). */
  openMs: number;
  dosesTotal: number;
  /** When each opening of the last hour began. */
  recent: number[];
  /** Cancels the pending close when another command replaces it. */
  timer: AbortController | null;
}

const defaults = (r: RelayConfig) => ({
  activeLow: r.active_low ?? false,
  maxDoseS: r.max_dose_s ?? 30,
  maxPerHour: r.max_doses_per_hour ?? 12,
  flow: r.flow_ml_per_min ?? 50,
});

class GasRelays {
  readonly kind = 'actuator';
  readonly driver = 'gpio-relay';
  private last = 'all';
  private time: number;

  constructor(
    private readonly ctx: ComponentContext<Config>,
    private readonly relays: Map<string, Relay>,
  ) {
    this.time = ctx.clock.now();
  }

  private recentOf(relay: Relay, now: number): number[] {
    relay.recent = relay.recent.filter((t) => now - t < HOUR_MS);
    return relay.recent;
  }

  private openMsOf(relay: Relay, now: number): number {
    return relay.openMs + (relay.open && relay.openedAt !== null ? now - relay.openedAt : 0);
  }

  /** Drives the line; a failing line is a 502 and leaves the relay as it was. */
  private async drive(relay: Relay, open: boolean, now: number): Promise<void> {
    await relay.driver.set(open).catch((e: unknown) => Promise.reject(deviceFault(this.ctx.log, this.ctx.name, e)));
    if (open && !relay.open) relay.openedAt = now;
    if (!open && relay.open && relay.openedAt !== null) relay.openMs += now - relay.openedAt;
    if (!open) {
      relay.openedAt = null;
      relay.closesAt = null;
      relay.timer?.abort();
      relay.timer = null;
    }
    relay.open = open;
  }

  async apply(body: Body, source: string): Promise<void> {
    const ctx = this.ctx;
    const now = ctx.clock.now();
    const relay = this.relays.get(body.relay);
    if (!relay)
      throw new ApiError(
        'VALIDATION_FAILED',
        `Unknown relay "${body.relay}": use one of ${[...this.relays.keys()].join(', ')}`,
      );
    if ((body.open === undefined) === (body.dose_s === undefined))
      throw new ApiError(
        'VALIDATION_FAILED',
        `give open (true or false) or dose_s (seconds), not ${body.open === undefined ? 'neither' : 'both'}`,
      );
    if (body.open === false) {
      await this.drive(relay, false, now);
      this.last = relay.name;
      this.time = now;
      ctx.record(source, { relay: relay.name, open: false });
      ctx.safetyChanged();
      return;
    }
    const doseS = body.dose_s ?? relay.maxDoseS;
    if (body.dose_s !== undefined && body.dose_s > relay.maxDoseS)
      throw new ApiError(
        'SAFETY_INTERLOCK',
        `A ${body.dose_s} s dose of ${relay.name} is refused: its max_dose_s is ${relay.maxDoseS} s (gas_relays.relays.${relay.name} in the hardware file)`,
      );
    const recent = this.recentOf(relay, now);
    if (recent.length >= relay.maxPerHour)
      throw new ApiError(
        'SAFETY_INTERLOCK',
        `${relay.name} is refused: it has opened ${recent.length} times in the last hour, its max_doses_per_hour; the next opening is allowed at ${iso((recent[0] ?? now) + HOUR_MS)}`,
      );
    await this.drive(relay, true, now);
    recent.push(now);
    relay.dosesTotal++;
    relay.closesAt = now + doseS * 1000;
    this.last = relay.name;
    this.time = now;
    ctx.record(
      source,
      body.dose_s !== undefined
        ? { relay: relay.name, open: true, dose_s: body.dose_s, closes_at: iso(relay.closesAt) }
        : { relay: relay.name, open: true, closes_at: iso(relay.closesAt) },
    );
    this.closeAt(relay, relay.closesAt, body.dose_s !== undefined ? source : null);
    // At its hourly limit the relay refuses more until the oldest opening is an hour old: the banner says so.
    if (recent.length >= relay.maxPerHour) {
      ctx.safetyChanged();
      const lifts = (recent[0] ?? now) + HOUR_MS;
      ctx.loop(async () => {
        await ctx.clock.sleep(lifts - ctx.clock.now(), ctx.signal);
        if (ctx.running) ctx.safetyChanged();
      });
    }
  }

  /**
   * Closes the relay at `at`, unless another command changed it first. The end of a dose is recorded as part of the
   * command that asked for it (`source`); an open that reached max_dose_s is closed by the node's safety.
   */
  private closeAt(relay: Relay, at: number, source: string | null): void {
    relay.timer?.abort();
    const timer = new AbortController();
    relay.timer = timer;
    const ctx = this.ctx;
    ctx.loop(async () => {
      await ctx.clock.sleep(at - ctx.clock.now(), AbortSignal.any([timer.signal, ctx.signal]));
      if (timer.signal.aborted || !ctx.running) return;
      await ctx
        .lock(async () => {
          if (relay.timer !== timer || !relay.open) return;
          const now = ctx.clock.now();
          await this.drive(relay, false, now);
          this.time = now;
          if (source !== null) ctx.record(source, { relay: relay.name, open: false, dose_ended: true });
          else {
            ctx.log.warn(
              { component: ctx.name, relay: relay.name },
              `${relay.name} closed by the node: open for its max_dose_s (${relay.maxDoseS} s)`,
            );
            ctx.record('safety', { relay: relay.name, open: false, reason: `max_dose_s (${relay.maxDoseS} s)` });
          }
        })
        .catch((err: Error) =>
          ctx.log.error(
            { component: ctx.name, relay: relay.name, err: err.message },
            `could not close ${relay.name}: ${err.message}`,
          ),
        );
      ctx.changed(source ?? 'safety');
    });
  }

  safe(): Body[] {
    return [...this.relays.keys()].map((relay) => ({ relay, open: false }));
  }

  interlocks(): string[] {
    const now = this.ctx.clock.now();
    return [...this.relays.values()].flatMap((relay) => {
      const recent = this.recentOf(relay, now);
      return recent.length >= relay.maxPerHour
        ? [
            `Gas relay ${relay.name} refused: it opened ${recent.length} times in the last hour (max_doses_per_hour ${relay.maxPerHour}) until ${iso((recent[0] ?? now) + HOUR_MS)}`,
          ]
        : [];
    });
  }

  /** An open relay's time grows by the moment: its state is built fresh each time. */
  volatile(): boolean {
    return [...this.relays.values()].some((r) => r.open);
  }

  state() {
    const now = this.ctx.clock.now();
    const relays = [...this.relays.values()].map((r) => ({
      relay: r.name,
      gas: r.gas,
      open: r.open,
      closes_at: r.closesAt === null ? null : iso(r.closesAt),
      open_s_total: round(this.openMsOf(r, now) / 1000, 3) ?? 0,
      doses_total: r.dosesTotal,
      doses_last_hour: this.recentOf(r, now).length,
      max_dose_s: r.maxDoseS,
      max_doses_per_hour: r.maxPerHour,
    }));
    return {
      ...OK,
      timestamp: iso(this.time),
      relay: this.last,
      active: relays.some((r) => r.open),
      relays,
    };
  }

  capabilities(): Record<string, unknown> {
    const relays = [...this.relays.values()];
    return {
      type: 'actuator',
      driver: this.driver,
      control_type: 'relay',
      parameters: ['relay', 'open', 'dose_s'],
      available_relays: relays.map((r) => r.name),
      count: relays.length,
      channels: relays.map((r) => r.name),
      unit: 's',
      gases: Object.fromEntries(relays.map((r) => [r.name, r.gas])),
      max_dose_s: Object.fromEntries(relays.map((r) => [r.name, r.maxDoseS])),
      max_doses_per_hour: Object.fromEntries(relays.map((r) => [r.name, r.maxPerHour])),
    };
  }

  counters(): Record<string, unknown> {
    const now = this.ctx.clock.now();
    return Object.fromEntries(
      [...this.relays.values()].map((r) => [
        r.name,
        { open_s_total: round(this.openMsOf(r, now) / 1000, 3) ?? 0, doses_total: r.dosesTotal },
      ]),
    );
  }

  async close(): Promise<void> {
    for (const relay of this.relays.values()) relay.timer?.abort();
    const results = await Promise.allSettled([...this.relays.values()].map((r) => r.driver.close()));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}

export default defineComponent({
  name: 'gas_relays',
  kind: 'actuator',
  optional: true,
  config,
  unit: 's',
  safeState: 'every valve closed',
  safeFirst: true,
  example: { relay: 'co2_valve', dose_s: 2 },
  async open(ctx) {
    const relays = new Map<string, Relay>();
    for (const [name, cfg] of Object.entries(ctx.config.gas_relays.relays)) {
      const d = defaults(cfg);
      // An active-low board's line rests high, so opening the line never opens the valve.
      const driver = new GpioRelay(await ctx.transports.gpio(cfg.gpio, d.activeLow), d.activeLow);
      await driver.probe();
      relays.set(name, {
        name,
        gas: cfg.gas,
        driver,
        maxDoseS: d.maxDoseS,
        maxPerHour: d.maxPerHour,
        open: false,
        openedAt: null,
        closesAt: null,
        openMs: 0,
        dosesTotal: 0,
        recent: [],
        timer: null,
      });
    }
    if (relays.size === 0) throw new Error('no relay is named in gas_relays.relays');
    return new GasRelays(ctx, relays);
  },
  simulate(sim) {
    const relays = Object.values(sim.config.gas_relays.relays);
    sim.inputs.gas = () => {
      const flow = { co2MlPerMin: 0, n2MlPerMin: 0, o2MlPerMin: 0 };
      for (const r of relays) {
        const line = sim.gpio.get(r.gpio);
        const d = defaults(r);
        if (!line || line.high === d.activeLow) continue;
        const key = `${r.gas}MlPerMin` as keyof typeof flow;
        flow[key] = flow[key] + d.flow;
      }
      return flow;
    };
    return undefined;
  },
  async outputs(c, paths) {
    const out: GuardedOutput[] = [];
    for (const r of Object.values(c.gas_relays.relays)) {
      const path = await gpioLineDir(r.gpio, paths).catch(() => null);
      if (path) out.push({ component: 'gas_relays', kind: 'gpio' as const, path, safe: defaults(r).activeLow ? 1 : 0 });
    }
    return out;
  },
  check(c) {
    const problems: string[] = [];
    const lines = new Map<number, string>();
    for (const [name, r] of Object.entries(c.gas_relays.relays)) {
      const other = lines.get(r.gpio);
      if (other) problems.push(`gas_relays.relays.${name}: GPIO ${r.gpio} is already relay ${other}`);
      lines.set(r.gpio, name);
    }
    return problems;
  },
});
