// Pololu Tic stepper controller over its USB virtual serial port, compact protocol: quick commands are one byte,
// 7-bit writes a command and a data byte, 32-bit writes a command, an MSb byte and four 7-bit little-endian bytes.
import type { SerialLink } from '../transports/types.js';

export const TIC = {
  setTargetVelocity: 0xe3,
  haltAndHold: 0x89,
  resetCommandTimeout: 0x8c,
  deenergize: 0x86,
  energize: 0x85,
  exitSafeStart: 0x83,
  setStepMode: 0x94,
  setCurrentLimit: 0x91,
  getVariable: 0xa1,
} as const;
/** Variable offsets (Tic user's guide, "Variable reference"). */
export const TIC_VAR = { operationState: 0x00, errorStatus: 0x02 } as const;
export const TIC_OPERATION_STATES: Record<number, string> = {
  0: 'reset',
  2: 'de-energized',
  4: 'soft error',
  6: 'waiting for ERR line',
  8: 'starting up',
  10: 'normal',
};
/** Target velocity limit, in microsteps per 10 000 s. */
export const TIC_MAX_VELOCITY = 500_000_000;
/** The Tic stops the motor when no command arrives for this long (its default command timeout). */
export const TIC_COMMAND_TIMEOUT_MS = 1000;

export function encode32(command: number, value: number): Uint8Array {
  const v = value >>> 0;
  const bytes = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  let msbs = 0;
  for (let i = 0; i < 4; i++) if ((bytes[i] ?? 0) & 0x80) msbs |= 1 << i;
  return Uint8Array.of(command, msbs, ...bytes.map((b) => b & 0x7f));
}

export class TicStepper {
  readonly driver = 'pololu-tic';

  constructor(
    private readonly link: SerialLink,
    readonly serialNumber: string,
  ) {}

  private send(...bytes: number[]): Promise<void> {
    return this.link.write(Uint8Array.from(bytes));
  }

  async getVariable(offset: number, length: number): Promise<Uint8Array> {
    await this.send(TIC.getVariable, offset, length);
    return this.link.read(length, 500);
  }

  /** Confirms the controller answers and reports its operation state. */
  async probe(): Promise<string> {
    const [state = 0] = await this.getVariable(TIC_VAR.operationState, 1);
    return TIC_OPERATION_STATES[state] ?? `state ${state}`;
  }

  async configure(stepMode: number, currentLimit: number): Promise<void> {
    await this.send(TIC.setStepMode, stepMode & 0x7f);
    await this.send(TIC.setCurrentLimit, currentLimit & 0x7f);
  }

  /** Runs at `velocity` (microsteps per 10 000 s); 0 halts and de-energises so the pump cannot creep. */
  async run(velocity: number): Promise<void> {
    if (velocity === 0) {
      await this.send(TIC.haltAndHold);
      await this.send(TIC.deenergize);
      return;
    }
    await this.send(TIC.energize);
    await this.send(TIC.exitSafeStart);
    await this.link.write(
      encode32(TIC.setTargetVelocity, Math.max(-TIC_MAX_VELOCITY, Math.min(TIC_MAX_VELOCITY, velocity))),
    );
  }

  /** Keeps a running motor going; if the node stops sending this, the Tic stops the pump on its own. */
  keepAlive(): Promise<void> {
    return this.send(TIC.resetCommandTimeout);
  }

  close(): Promise<void> {
    return this.link.close();
  }
}
