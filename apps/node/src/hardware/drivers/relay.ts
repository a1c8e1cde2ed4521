// A relay (a gas solenoid valve) on one GPIO output line: open or closed, active high by default (a relay board whose
// input is active low inverts it). Closed is the level the node gives the line at start, at stop and in the safe
// state, and the level the output supervisor writes when the node dies.
import type { GpioLine } from '../transports/types.js';

export class GpioRelay {
  readonly driver = 'gpio-relay';

  constructor(
    private readonly line: GpioLine,
    /** The line is low when the relay is open (an active-low relay board). */
    private readonly activeLow: boolean,
  ) {}

  /** The line level that keeps the relay closed. */
  get closedLevel(): boolean {
    return this.activeLow;
  }

  /** Drives the line to closed: proves it can be written without opening anything. */
  async probe(): Promise<void> {
    await this.line.set(this.activeLow);
  }

  async set(open: boolean): Promise<void> {
    await this.line.set(open !== this.activeLow);
  }

  /** Closed, then released (the line's close leaves it at its resting level, which is closed). */
  async close(): Promise<void> {
    await this.line.set(this.activeLow);
    await this.line.close();
  }
}
