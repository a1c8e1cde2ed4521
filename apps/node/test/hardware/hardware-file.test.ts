// The hardware file: the shipped one is valid and complete; a bad one names every problem; environment beats file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPONENT_NAMES } from '@bioreactor/api';
import { describe, expect, it } from 'vitest';
import { HardwareFileError, loadHardwareFile, parseHardwareFile } from '../../src/hardware/hardware-file.js';
import { createHardware } from '../../src/hardware/index.js';
import { quietLog, tempDir } from './support.js';

describe('hardware file', () => {
  it('ships with every component enabled, in simulation, with the original channel and pump names', () => {
    const { file, found } = loadHardwareFile(
      join(import.meta.dirname, '../../../../bioreactor-node-v3/config_hardware.json'),
    );
    expect(found).toBe(true);
    expect(COMPONENT_NAMES.every((n) => file.init_components[n])).toBe(true);
    expect(file.hardware_mode).toBe('simulation');
    expect(Object.values(file.od_adc.channels)).toEqual(expect.arrayContaining(['A0', 'A1', 'A2']));
    expect(Object.keys(file.pumps)).toEqual(['inflow', 'outflow']);
    expect(file.peltier_driver.over_temperature_c).toBe(45);
    expect(file.ring_light.pixel_count).toBe(32);
  });

  it('names every problem at once', () => {
    let error: HardwareFileError | undefined;
    try {
      parseHardwareFile({
        init_components: { co2_sensor: 'yes' },
        co2_sensor_type: 'vaisala',
        pumps: { inflow: { serial: '12', steps_per_ml: -1 } },
        stirer: { pwm_pin: 12 },
      });
    } catch (err) {
      error = err as HardwareFileError;
    }
    expect(error).toBeInstanceOf(HardwareFileError);
    const text = error?.problems.join('\n') ?? '';
    expect(text).toMatch(/init_components\.co2_sensor/);
    expect(text).toMatch(/co2_sensor_type/);
    expect(text).toMatch(/pumps\.inflow\.serial/);
    expect(text).toMatch(/pumps\.inflow\.steps_per_ml/);
    expect(text).toMatch(/stirer: unknown key/);
  });

  it('catches what a schema cannot: inputs the ADC lacks and two chips on one address', () => {
    expect(() => parseHardwareFile({ od_adc: { type: 'ads1115', channels: { '135': 'A5' } } })).toThrow(
      /A5 does not exist on an ads1115/,
    );
    expect(() =>
      parseHardwareFile({
        init_components: { co2_sensor: true, optical_density: true },
        co2_sensor_i2c_address: '0x48',
      }),
    ).toThrow(/0x48 is already used/);
  });

  it('takes HARDWARE_MODE from the environment first, the file second, simulation by default', async () => {
    const dir = tempDir();
    const path = join(dir, 'config_hardware.json');
    writeFileSync(path, JSON.stringify({ hardware_mode: 'real', init_components: {} }));
    const make = (mode?: 'real' | 'simulation') =>
      createHardware({ HARDWARE_MODE: mode, BIOREACTOR_HARDWARE_CONFIG: path, DATA_DIR: dir }, { log: quietLog });
    expect((await make()).mode).toBe('real');
    expect((await make('simulation')).mode).toBe('simulation');
    writeFileSync(path, JSON.stringify({ init_components: {} }));
    expect((await make()).mode).toBe('simulation');
  });

  it('refuses a file that is not JSON, saying where', () => {
    const dir = tempDir();
    const path = join(dir, 'config_hardware.json');
    writeFileSync(path, "INIT_COMPONENTS = {'co2_sensor': True}");
    expect(() => loadHardwareFile(path)).toThrow(/not valid JSON/);
  });
});
