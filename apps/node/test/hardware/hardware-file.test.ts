// The hardware file: the shipped one is valid and complete; a bad one names every problem; environment beats file;
// the guide's config_hardware.py read beside it, and which of the two is read.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPONENT_NAMES, GUIDE_COMPONENT_NAMES } from '@bioreactor/api';
import { describe, expect, it } from 'vitest';
import { parsePyConfig } from '../../src/hardware/config-py.js';
import {
  DEFAULT_HARDWARE,
  HardwareFileError,
  loadHardwareFile,
  parseHardwareFile,
  pyAsJson,
  pyAssignmentsToJson,
  readPyHardwareFile,
} from '../../src/hardware/hardware-file.js';
import { createHardware } from '../../src/hardware/index.js';
import { quietLog, recordingLog, tempDir } from './support.js';

describe('hardware file', () => {
  it('ships with the guide’s nine components enabled (the ones added since off), in simulation, with the original channel and pump names', () => {
    const { file, found } = loadHardwareFile(
      join(import.meta.dirname, '../../../../bioreactor-node-v3/config_hardware.json'),
    );
    expect(found).toBe(true);
    expect(GUIDE_COMPONENT_NAMES.every((n) => file.init_components[n])).toBe(true);
    expect(
      COMPONENT_NAMES.filter((n) => !GUIDE_COMPONENT_NAMES.includes(n as never)).some(
        (n) => file.init_components[n as never],
      ),
    ).toBe(false);
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

describe("the guide's config_hardware.py", () => {
  const guidePy = readFileSync(join(import.meta.dirname, 'fixtures/guide-config_hardware.py'), 'utf8');
  /** What the guide's file stands for in the JSON file, pumps inherited as the original's Config did. */
  const guideJson = {
    init_components: {
      co2_sensor: true,
      temp_sensor: true,
      optical_density: true,
      eyespy_adc: true,
      pumps: true,
      stirrer: true,
      peltier_driver: true,
      led: false,
      ring_light: false,
    },
    co2_sensor_type: 'atlas',
    co2_sensor_i2c_address: 0x69,
    hardware_mode: 'real',
    pumps: DEFAULT_HARDWARE.pumps,
  };

  it('maps its upper-case names to the JSON keys and validates them as the JSON file', () => {
    const { raw, problems, warnings } = pyAssignmentsToJson(parsePyConfig(guidePy).assignments);
    expect(problems).toEqual([]);
    expect(warnings).toEqual([]);
    expect(raw).toEqual(guideJson);
    const { file } = readPyHardwareFile(guidePy);
    expect(file).toEqual(parseHardwareFile(guideJson));
    expect(file.co2_sensor_i2c_address).toBe(0x69);
    expect(file.init_components.led).toBe(false);
    expect(Object.keys(file.pumps)).toEqual(['inflow', 'outflow']);
  });

  it('reads hex addresses as numbers and shows them as hex in JSON', () => {
    const text =
      "INIT_COMPONENTS = {'co2_sensor': True, 'eyespy_adc': True}\nCO2_SENSOR_TYPE = 'sensair_k33'\nCO2_SENSOR_I2C_ADDRESS = 0x68\nEYESPY_ADC = {'eyespy1': 0x49, 'eyespy2': 0x4A}\n";
    const { file } = readPyHardwareFile(text);
    expect(file.co2_sensor_i2c_address).toBe(0x68);
    expect(file.eyespy_adc.boards).toEqual({
      eyespy1: { i2c_address: 0x49, chip: 'ads1114' },
      eyespy2: { i2c_address: 0x4a, chip: 'ads1114' },
    });
    const { raw } = pyAssignmentsToJson(parsePyConfig(text).assignments);
    expect(JSON.parse(pyAsJson(raw))).toMatchObject({
      co2_sensor_i2c_address: '0x68',
      eyespy_adc: { boards: { eyespy1: { i2c_address: '0x49' }, eyespy2: { i2c_address: '0x4a' } } },
    });
    expect(() => readPyHardwareFile("INIT_COMPONENTS = {'co2_sensor': True}\nCO2_SENSOR_I2C_ADDRESS = 0x99")).toThrow(
      /co2_sensor_i2c_address: /,
    );
  });

  it("reads the original's flat names into their objects, keeping the other settings' defaults", () => {
    const text = [
      'PELTIER_PWM_PIN = 12',
      'PELTIER_DIR_PIN = 21',
      'PELTIER_DIR_INVERTED = True',
      'STIRRER_PWM_PIN = 13',
      'STIRRER_DEFAULT_DUTY = 25',
      'LED_PWM_PIN = 19',
      "OD_ADC_CHANNELS = {'135': 'A0', 'Ref': 'A1', '90': 'A2'}",
      "TEMP_SENSOR_ORDER = ['28-0000000000aa']",
      "PUMPS = {'feed': {'serial': '00000001', 'steps_per_ml': 1e7, 'direction': 'reverse'}}",
      'I2C_BUS = 1',
      "RING_LIGHT = {'pixel_count': 16}",
    ].join('\n');
    const { file } = readPyHardwareFile(text);
    expect(file.peltier_driver).toMatchObject({
      pwm_pin: 12,
      dir_pin: 21,
      direction_inverted: true,
      frequency_hz: 1000,
    });
    expect(file.stirrer).toMatchObject({ pwm_pin: 13, idle_duty: 25, frequency_hz: 1000 });
    expect(file.led).toMatchObject({ pwm_pin: 19, frequency_hz: 500 });
    expect(file.od_adc.channels).toEqual({ '135': 'A0', Ref: 'A1', '90': 'A2' });
    expect(file.temp_sensor.order).toEqual(['28-0000000000aa']);
    expect(file.pumps.feed).toMatchObject({ serial: '00000001', direction: 'reverse' });
    expect(file.ring_light.pixel_count).toBe(16);
  });

  it("warns about the original's names that mean nothing here, and refuses unknown ones listing the known", () => {
    const { file, warnings } = readPyHardwareFile(
      "INIT_COMPONENTS = {'i2c': True, 'temp_sensor': True}\nCO2_SENSOR_ENABLED = True\nLOG_FILE = 'bioreactor.log'\n",
    );
    expect(file.init_components.temp_sensor).toBe(true);
    expect(warnings).toEqual([
      "INIT_COMPONENTS['i2c'] is not used: the I2C bus opens for the components that need it (line 1)",
      "CO2_SENSOR_ENABLED (line 2) is not used by this node: INIT_COMPONENTS['co2_sensor'] alone starts the CO2 sensor",
      'LOG_FILE (line 3) is not used by this node: the node logs to its standard output',
    ]);
    expect(() => readPyHardwareFile("CO2_SENSR_TYPE = 'atlas'")).toThrow(
      /1:1: CO2_SENSR_TYPE is not a name this node reads; it reads INIT_COMPONENTS, CO2_SENSOR_TYPE, CO2_SENSOR_I2C_ADDRESS, HARDWARE_MODE, .*PUMPS/,
    );
    expect(() => readPyHardwareFile("co2_sensor_type = 'atlas'")).toThrow(
      /1:1: co2_sensor_type: write CO2_SENSOR_TYPE/,
    );
  });

  it('refuses two names setting one key, and validates values with the JSON file’s messages', () => {
    expect(() => readPyHardwareFile("PELTIER_DIR_PIN = 21\nPELTIER_DRIVER = {'dir_pin': 20}")).toThrow(
      /2:1: PELTIER_DRIVER sets peltier_driver\.dir_pin, which PELTIER_DIR_PIN already sets/,
    );
    let error: HardwareFileError | undefined;
    try {
      readPyHardwareFile("CO2_SENSOR_TYPE = 'vaisala'\nINIT_COMPONENTS = {'co2': True}", '/x/config_hardware.py');
    } catch (err) {
      error = err as HardwareFileError;
    }
    expect(error?.message).toMatch(/^Hardware file \/x\/config_hardware\.py is invalid:/);
    expect(error?.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^co2_sensor_type: /),
        'init_components.co2: unknown key (check its spelling)',
      ]),
    );
  });

  describe('which file is read', () => {
    const setUp = (files: { json?: unknown; py?: string }) => {
      const dir = tempDir();
      const json = join(dir, 'config_hardware.json');
      const py = join(dir, 'config_hardware.py');
      if (files.json !== undefined) writeFileSync(json, JSON.stringify(files.json));
      if (files.py !== undefined) writeFileSync(py, files.py);
      return { dir, json, py };
    };

    it('only config_hardware.json: the JSON file', () => {
      const { json } = setUp({ json: { init_components: { led: true } } });
      const loaded = loadHardwareFile(json);
      expect(loaded).toMatchObject({ found: true, path: json, warnings: [] });
      expect(loaded.file.init_components.led).toBe(true);
    });

    it('only config_hardware.py beside where the JSON file would be: the .py, and HARDWARE_MODE in it counts', async () => {
      const { dir, json, py } = setUp({ py: guidePy });
      const loaded = loadHardwareFile(json);
      expect(loaded).toMatchObject({ found: true, path: py });
      expect(loaded.file).toEqual(parseHardwareFile(guideJson));
      const { lines, log } = recordingLog();
      const hardware = await createHardware(
        { BIOREACTOR_HARDWARE_CONFIG: json, DATA_DIR: dir, HARDWARE_MODE: undefined },
        { log },
      );
      expect(hardware.mode).toBe('real');
      expect(lines).toContainEqual({ level: 'info', msg: `hardware file ${py} (read as data)` });
    });

    it('both: start-up stops with one error showing the .py as JSON to merge', () => {
      const { json, py } = setUp({ json: { init_components: {} }, py: guidePy });
      let error: HardwareFileError | undefined;
      try {
        loadHardwareFile(json);
      } catch (err) {
        error = err as HardwareFileError;
      }
      expect(error).toBeInstanceOf(HardwareFileError);
      const message = error?.message ?? '';
      expect(message).toContain(`Two hardware files: ${json} and ${py}. The node reads one:`);
      expect(message).toContain('to use config_hardware.py, delete config_hardware.json');
      expect(message).toContain(
        'to keep config_hardware.json, merge config_hardware.py into it (below, as JSON) and delete config_hardware.py',
      );
      const shown = JSON.parse(message.slice(message.indexOf('config_hardware.py as JSON:\n') + 28));
      expect(shown).toEqual({ ...guideJson, co2_sensor_i2c_address: '0x69' });
      // What is shown is a valid JSON hardware file with the same meaning ("0x69" and 105 are one address).
      expect({ ...parseHardwareFile(shown), co2_sensor_i2c_address: 0x69 }).toEqual(parseHardwareFile(guideJson));
    });

    it('both, and the .py has problems: they are listed with the JSON of what could be read', () => {
      const { json } = setUp({ json: {}, py: "HARDWARE_MODE = 'real'\nimport os\n" });
      expect(() => loadHardwareFile(json)).toThrow(/config_hardware\.py 2:1: imports are not read/);
      expect(() => loadHardwareFile(json)).toThrow(
        /as JSON \(the lines it could read\):\n\{\n {2}"hardware_mode": "real"/,
      );
    });

    it('BIOREACTOR_HARDWARE_CONFIG naming a .py: that file, whatever is beside it; missing means the defaults', () => {
      const { dir, py } = setUp({ json: { init_components: {} }, py: guidePy });
      expect(loadHardwareFile(py)).toMatchObject({ found: true, path: py });
      expect(loadHardwareFile(py).file.hardware_mode).toBe('real');
      const absent = join(dir, 'other.py');
      const loaded = loadHardwareFile(absent);
      expect(loaded).toMatchObject({ found: false, path: absent });
      expect(loaded.file).toEqual(parseHardwareFile(DEFAULT_HARDWARE));
    });

    it('neither: the defaults, as before', () => {
      const { json } = setUp({});
      expect(loadHardwareFile(json)).toMatchObject({ found: false, path: json });
    });

    it('a .py written into the JSON file: not valid JSON, and a hint to name it config_hardware.py', () => {
      const { json } = setUp({});
      writeFileSync(json, guidePy);
      expect(() => loadHardwareFile(json)).toThrow(
        /looks like the guide's config_hardware\.py: save it as config_hardware\.py/,
      );
    });
  });

  it('an upper-case name in the JSON file: the error says the JSON key to write', () => {
    let error: HardwareFileError | undefined;
    try {
      parseHardwareFile({
        CO2_SENSOR_TYPE: 'sensair_k33',
        HARDWARE_MODE: 'real',
        PELTIER_PWM_PIN: 13,
        CO2_SENSOR_ENABLED: true,
        SOMETHING_ELSE: 1,
      });
    } catch (err) {
      error = err as HardwareFileError;
    }
    expect(error?.problems).toEqual([
      'CO2_SENSOR_TYPE: write co2_sensor_type in the JSON file',
      'HARDWARE_MODE: write hardware_mode in the JSON file',
      'PELTIER_PWM_PIN: write peltier_driver.pwm_pin in the JSON file',
      "CO2_SENSOR_ENABLED: not used by this node (INIT_COMPONENTS['co2_sensor'] alone starts the CO2 sensor); remove it",
      'SOMETHING_ELSE: unknown key (check its spelling)',
    ]);
  });
});
