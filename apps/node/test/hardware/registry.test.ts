// The registry's conformance: every registered component has what the node relies on (an emulator, a unit, a safe
// state, a contract entry, its readings), and, enabled on its own in simulation, it opens against its emulator,
// samples or takes its example command, goes to its safe state and takes its faults. A component added to
// registry.ts is checked here without a line of this file changing.
import { COMPONENT_NAMES, COMPONENTS, READING_KEYS, readingSpec, readingsOf } from '@bioreactor/api';
import { afterEach, describe, expect, it } from 'vitest';
import type { ComponentDescriptor } from '../../src/hardware/components/component.js';
import type { HardwareController } from '../../src/hardware/hardware.js';
import type { Hardware } from '../../src/hardware/index.js';
import { REGISTRY } from '../../src/hardware/registry.js';
import { simulatedHardware, whileTimePasses } from './support.js';

const registry = REGISTRY as readonly ComponentDescriptor[];
type Hw = Hardware & HardwareController;
const started: Hw[] = [];
afterEach(async () => {
  for (const hw of started.splice(0)) await hw.stop();
});

const only = (name: string) => ({
  init_components: Object.fromEntries(registry.map((c) => [c.name, c.name === name])),
});

describe('the component registry', () => {
  it('lists every component of the contract once, in the contract’s order', () => {
    expect(registry.map((c) => c.name)).toEqual([...COMPONENT_NAMES]);
  });

  it('every reading belongs to a registered component', () => {
    for (const key of READING_KEYS)
      expect(
        registry.some((c) => c.name === readingSpec(key).component),
        key,
      ).toBe(true);
  });

  describe.each(registry.map((c) => [c.name, c] as const))('%s', (name, component) => {
    it('has an emulator, a unit, a safe state and a contract entry of its kind', () => {
      expect(typeof component.simulate, 'an emulator (simulate)').toBe('function');
      expect(typeof component.open).toBe('function');
      expect(component.unit, 'a unit').toMatch(/\S/);
      expect(component.safeState, 'a safe state').toMatch(/\S/);
      expect(COMPONENTS[name]?.kind).toBe(component.kind);
      if (component.kind === 'sensor') {
        expect(component.sampling, 'a sample interval').toBeDefined();
        expect(component.safeState).toBe('drives nothing');
        expect(readingsOf(name).length, 'a row in readings.ts').toBeGreaterThan(0);
        for (const key of readingsOf(name)) expect(readingSpec(key).unit, `${key}: a unit`).toMatch(/\S/);
      } else {
        expect(component.safeState).not.toBe('drives nothing');
        expect(component.example, 'an example command').toBeDefined();
        expect(COMPONENTS[name]?.control, 'a control body in the contract').toBeDefined();
      }
    });

    it('enabled alone in simulation: opens against its emulator, works, and goes to its safe state', async () => {
      const sim = await simulatedHardware({ file: only(name), dataDir: null });
      const hw = sim.hardware;
      await whileTimePasses(sim.clock, hw.start(), 50);
      started.push(hw);
      expect(hw.report().unavailable[name], 'opened').toBeUndefined();
      expect(hw.isAvailable(name)).toBe(true);
      const caps = hw.capabilities()[name];
      expect(caps?.type).toBe(component.kind);
      if (component.kind === 'sensor') {
        await whileTimePasses(sim.clock, hw.waitForFirstSamples([name as never]), 50);
        await sim.clock.advance(5000);
        const state = hw.componentState(name) as { status: string; message: string | null } & Record<string, unknown>;
        expect(state.status, String(state.message)).toBe('success');
        for (const key of readingsOf(name)) {
          const { field, range, kind } = readingSpec(key);
          const value = state[field];
          const values = (kind === 'list' ? value : [value]) as (number | null)[];
          expect(values.length, `${key} has values`).toBeGreaterThan(0);
          for (const v of values) {
            expect(typeof v, `${key} is a number`).toBe('number');
            if (range) expect(v).toBeGreaterThanOrEqual(range[0]);
            if (range) expect(v).toBeLessThanOrEqual(range[1]);
          }
        }
      } else {
        // Alone, a heating command is refused (no thermometer): a refusal by a safety rule is the rule working.
        await whileTimePasses(sim.clock, hw.control(name as never, component.example as never, 'test'), 50).catch(
          (err: { code?: string }) => expect(err.code).toBe('SAFETY_INTERLOCK'),
        );
        await whileTimePasses(sim.clock, hw.applySafeState('test'), 50);
        const safety = hw.commandLog().filter((e) => e.component === name && e.source === 'safety:test');
        expect(safety.length, 'the safe state commands it').toBeGreaterThan(0);
      }
    });

    it('takes each of its simulated faults', async () => {
      const sim = await simulatedHardware({ file: only(name), dataDir: null });
      const hw = sim.hardware;
      await whileTimePasses(sim.clock, hw.start(), 50);
      started.push(hw);
      const faults = hw.simulation?.faults;
      if (!faults) throw new Error('no simulation');
      // Learn the faults from the 400 a bogus one answers.
      let names: string[] = [];
      try {
        faults.inject({ component: name, fault: 'no-such-fault' });
      } catch (err) {
        const message = (err as Error).message;
        if (/^No faults for component/.test(message)) return;
        names = (/use one of (.*)$/.exec(message)?.[1] ?? '').split(', ');
      }
      expect(names.length).toBeGreaterThan(0);
      for (const fault of names) {
        const pumps = Object.keys(hw.file.pumps);
        faults.inject({ component: name, fault, ...(name === 'pumps' ? { pump_name: pumps[0] } : {}) });
      }
      expect(faults.clear()).toBeGreaterThan(0);
    });
  });
});
