/**
 * Pololu Tic stepper motor controllers (T825, T834, T500, N825, T249, 36v4) over their native USB interface, as the
 * original system reached them (libusb through pyusb / ticlib). Sources, Pololu's "Tic Stepper Motor Controller
 * User's Guide" (pololu.com/docs/0J71), each number checked against pololu-tic-software's include/tic_protocol.h:
 *
 * - §11 "USB command encoding": every command is a vendor-defined control transfer on endpoint 0. Quick commands:
 *   bmRequestType 0x40, bRequest = the command, wValue = wIndex = 0. 7-bit writes: wValue = the data. 32-bit writes:
 *   wValue = data bits 15..0, wIndex = bits 31..16 (Set target position 1 234 567 890 = 0x499602D2 is
 *   0x40 0xE0 0x02D2 0x4996). Block reads ("get variable"): bmRequestType 0xC0, wIndex = the offset, wLength = the
 *   length (1..128); multi-byte values are little-endian.
 * - §8 "Command reference": the command codes in TIC_CMD. Set target velocity, Set max speed: microsteps per
 *   10 000 s, ±500 000 000. "Get variable and clear errors occurred" is 0xA2 (0xA1 leaves the latch alone).
 * - §7 "Variable reference": the offsets in TIC_VAR, the operation states and the error status bits.
 * - §6 "Setting reference": the defaults the node relies on: Max speed 2 000 000 (200 microsteps/s; "Set max speed"
 *   overrides it until the next reset), Command timeout 1000 ms, safe start enabled.
 * - §5.4 "Error handling": while an error bit is set the motor is stopped; with safe start enabled (the default) a
 *   stopped Tic does not move again until it receives "Exit safe start".
 * - USB ids: vendor 0x1FFB (Pololu), one product id per model (tic_protocol.h TIC_PRODUCT_ID_*).
 */
import type { UsbControl, UsbMatch } from '../transports/types.js';

export const TIC_VENDOR_ID = 0x1ffb;
export const TIC_PRODUCT_IDS = {
  T825: 0x00b3,
  T834: 0x00b5,
  T500: 0x00bd,
  N825: 0x00c3,
  T249: 0x00c9,
  '36v4': 0x00cb,
} as const;

/** The USB device of one Tic, matched by its serial number (the 8 digits printed on the board). */
export const ticUsbMatch = (serialNumber: string): UsbMatch => ({
  vendorId: TIC_VENDOR_ID,
  productIds: Object.values(TIC_PRODUCT_IDS),
  serialNumber,
  family: 'Tic',
});

/** bmRequestType of commands (vendor, host to device) and of block reads (vendor, device to host). */
export const TIC_REQUEST_TYPE = { out: 0x40, in: 0xc0 } as const;

/** Command codes (§8), sent as bRequest. */
export const TIC_CMD = {
  setTargetVelocity: 0xe3,
  haltAndHold: 0x89,
  resetCommandTimeout: 0x8c,
  deenergize: 0x86,
  energize: 0x85,
  exitSafeStart: 0x83,
  clearDriverError: 0x8a,
  setMaxSpeed: 0xe6,
  setStepMode: 0x94,
  setCurrentLimit: 0x91,
  getVariable: 0xa1,
  getVariableAndClearErrorsOccurred: 0xa2,
} as const;

/** Variable offsets (§7). */
export const TIC_VAR = {
  operationState: 0x00,
  miscFlags1: 0x01,
  errorStatus: 0x02,
  errorsOccurred: 0x04,
  planningMode: 0x09,
  targetVelocity: 0x0e,
  maxSpeed: 0x16,
  currentVelocity: 0x26,
} as const;
/** The status the node reads: operation state up to and including current velocity, in one block read. */
export const TIC_STATUS_LENGTH = TIC_VAR.currentVelocity + 4;

export const TIC_OPERATION_STATES: Record<number, string> = {
  0: 'reset',
  2: 'de-energized',
  4: 'soft error',
  6: 'waiting for ERR line',
  8: 'starting up',
  10: 'normal',
};
export const TIC_STATE_NORMAL = 10;
/** Planning mode 2: the Tic follows a target velocity. */
export const TIC_PLANNING_TARGET_VELOCITY = 2;

/** Bits of "error status" and "errors occurred" (§7; §5.4 describes each). */
export const TIC_ERROR_BITS = {
  intentionallyDeenergized: 0,
  motorDriverError: 1,
  lowVin: 2,
  killSwitch: 3,
  requiredInputInvalid: 4,
  serialError: 5,
  commandTimeout: 6,
  safeStartViolation: 7,
  errLineHigh: 8,
} as const;
const ERROR_NAMES: Record<number, string> = {
  0: 'intentionally de-energized',
  1: 'motor driver error',
  2: 'low VIN',
  3: 'kill switch active',
  4: 'required input invalid',
  5: 'serial error',
  6: 'command timeout',
  7: 'safe start violation',
  8: 'ERR line high',
};

/** Names of the set bits of an error status. */
export function ticErrorNames(bits: number): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < 16; bit++) if (bits & (1 << bit)) names.push(ERROR_NAMES[bit] ?? `error bit ${bit}`);
  return names;
}

/** Target velocity and max speed limit, microsteps per 10 000 s (§8 "Set target velocity", "Set max speed"). */
export const TIC_MAX_VELOCITY = 500_000_000;
/** Velocity units per microstep per second. */
export const TIC_UNITS_PER_STEP_PER_S = 10_000;
/** The "Max speed" setting of a Tic at its defaults (§6): 2 000 000 microsteps per 10 000 s, 200 microsteps/s. */
export const TIC_DEFAULT_MAX_SPEED = 2_000_000;
/** The Tic stops the motor when no command arrives for this long (its default "Command timeout", §6). */
export const TIC_COMMAND_TIMEOUT_MS = 1000;

export interface TicStatus {
  operationState: number;
  /** The operation state's name. */
  state: string;
  energized: boolean;
  errorStatus: number;
  /** Errors since the previous status read (the read clears the latch). */
  errorsOccurred: number;
  planningMode: number;
  targetVelocity: number;
  maxSpeed: number;
  /** The step rate the Tic sends to its driver now, microsteps per 10 000 s. */
  currentVelocity: number;
}

export function parseTicStatus(bytes: Uint8Array): TicStatus {
  if (bytes.length < TIC_STATUS_LENGTH)
    throw new Error(`the Tic answered ${bytes.length} bytes of status, not ${TIC_STATUS_LENGTH}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const operationState = view.getUint8(TIC_VAR.operationState);
  return {
    operationState,
    state: TIC_OPERATION_STATES[operationState] ?? `state ${operationState}`,
    energized: (view.getUint8(TIC_VAR.miscFlags1) & 1) === 1,
    errorStatus: view.getUint16(TIC_VAR.errorStatus, true),
    errorsOccurred: view.getUint32(TIC_VAR.errorsOccurred, true),
    planningMode: view.getUint8(TIC_VAR.planningMode),
    targetVelocity: view.getInt32(TIC_VAR.targetVelocity, true),
    maxSpeed: view.getUint32(TIC_VAR.maxSpeed, true),
    currentVelocity: view.getInt32(TIC_VAR.currentVelocity, true),
  };
}

/**
 * Why a Tic told to run at `velocity` is not running it, or null when it is: an error stopping the motor, an
 * operation state other than normal, a target it no longer holds (it reset, or something else commanded it), or
 * no steps at all once `expectSteps` (the ramp from standstill has had time to start).
 */
export function ticStopReason(status: TicStatus, velocity: number, expectSteps: boolean): string | null {
  if (status.errorStatus !== 0)
    return `the Tic reports ${ticErrorNames(status.errorStatus).join(', ')} (operation state ${status.state})`;
  if (status.operationState !== TIC_STATE_NORMAL) return `the Tic is in operation state ${status.state}`;
  if (status.planningMode !== TIC_PLANNING_TARGET_VELOCITY || status.targetVelocity !== velocity)
    return `the Tic holds target velocity ${status.targetVelocity}, not the commanded ${velocity} (it reset or took another command)`;
  if (expectSteps && status.currentVelocity === 0) return 'the Tic sends no steps (current velocity 0)';
  return null;
}

export class TicStepper {
  readonly driver = 'pololu-tic';

  constructor(
    private readonly usb: UsbControl,
    readonly serialNumber: string,
  ) {}

  private quick(command: number): Promise<void> {
    return this.usb.vendorOut(command, 0, 0);
  }

  private write7(command: number, data: number): Promise<void> {
    return this.usb.vendorOut(command, data & 0x7f, 0);
  }

  private write32(command: number, data: number): Promise<void> {
    const v = data >>> 0;
    return this.usb.vendorOut(command, v & 0xffff, v >>> 16);
  }

  /** A block of variables (§11 block read); `clearErrors` uses 0xA2, which also clears "errors occurred". */
  async getVariables(offset: number, length: number, clearErrors = false): Promise<Uint8Array> {
    const command = clearErrors ? TIC_CMD.getVariableAndClearErrorsOccurred : TIC_CMD.getVariable;
    const bytes = await this.usb.vendorIn(command, 0, offset, length);
    if (bytes.length !== length)
      throw new Error(`the Tic ${this.serialNumber} answered ${bytes.length} of ${length} variable bytes`);
    return bytes;
  }

  /** Operation state, errors, target and current velocity, in one transfer; clears "errors occurred". */
  async status(): Promise<TicStatus> {
    return parseTicStatus(await this.getVariables(0, TIC_STATUS_LENGTH, true));
  }

  /** Confirms the controller answers and reports its operation state. Moves nothing. */
  async probe(): Promise<string> {
    return (await this.status()).state;
  }

  /**
   * Step mode, current limit code and max speed (microsteps per 10 000 s), each until the Tic's next reset (§8:
   * "temporarily sets"). The max speed is the pump's calibrated maximum, so the Tic itself never exceeds it.
   */
  async configure(stepMode: number, currentLimit: number, maxSpeed: number): Promise<void> {
    await this.write7(TIC_CMD.setStepMode, stepMode);
    await this.write7(TIC_CMD.setCurrentLimit, currentLimit);
    await this.write32(TIC_CMD.setMaxSpeed, Math.max(0, Math.min(TIC_MAX_VELOCITY, Math.round(maxSpeed))));
  }

  /** Runs at `velocity` (microsteps per 10 000 s); 0 halts and de-energises so the pump cannot creep. */
  async run(velocity: number): Promise<void> {
    if (velocity === 0) {
      await this.quick(TIC_CMD.haltAndHold);
      await this.quick(TIC_CMD.deenergize);
      return;
    }
    await this.quick(TIC_CMD.energize);
    await this.quick(TIC_CMD.exitSafeStart);
    await this.write32(
      TIC_CMD.setTargetVelocity,
      Math.max(-TIC_MAX_VELOCITY, Math.min(TIC_MAX_VELOCITY, Math.round(velocity))),
    );
  }

  /**
   * Restarts a Tic that stopped by itself: the command timeout reset, a latched driver error cleared, energised,
   * out of safe start, and the velocity sent again (§5.4: what each error needs to clear).
   */
  async restart(velocity: number): Promise<void> {
    await this.quick(TIC_CMD.resetCommandTimeout);
    await this.quick(TIC_CMD.clearDriverError);
    await this.run(velocity);
  }

  /** Keeps a running motor going; if the node stops sending this, the Tic stops the pump on its own. */
  keepAlive(): Promise<void> {
    return this.quick(TIC_CMD.resetCommandTimeout);
  }

  close(): Promise<void> {
    return this.usb.close();
  }
}
