// ring_light: a WS2812 (NeoPixel) ring on SPI; the whole ring or one pixel. It heats the vessel a little, so the
// critical thermal stage switches it off and refuses it.
import { ApiError, type ComponentControls } from '@bioreactor/api';
import { Type } from 'typebox';
import { NeoPixelRing, type Rgb } from '../drivers/neopixel.js';
import { EmulatedNeoPixelSpi } from '../emulated/outputs.js';
import { deviceFault, OK } from './actuator-kit.js';
import { defineComponent, iso } from './component.js';

const config = {
  ring_light: Type.Object(
    {
      spi_device: Type.String({ pattern: '^spidev[0-9]+\\.[0-9]+$', default: 'spidev0.0' }),
      pixel_count: Type.Integer({ minimum: 1, maximum: 1024, default: 32 }),
      spi_speed_hz: Type.Integer({ minimum: 1_000_000, maximum: 4_000_000, default: 2_400_000 }),
    },
    { additionalProperties: false, default: {} },
  ),
};

export default defineComponent({
  name: 'ring_light',
  kind: 'actuator',
  config,
  unit: '0-255',
  safeState: 'off',
  example: { red: 255, green: 80, blue: 0 },
  async open(ctx) {
    const rl = ctx.config.ring_light;
    const driver = new NeoPixelRing(await ctx.transports.spi(rl.spi_device), rl.pixel_count, rl.spi_speed_hz);
    await driver.probe();
    let pixels: Rgb[] = Array.from({ length: rl.pixel_count }, () => [0, 0, 0] as Rgb);
    let last: Rgb = [0, 0, 0];
    let time = ctx.clock.now();
    const lit = () => pixels.some(([r, g, b]) => r + g + b > 0);
    return {
      kind: 'actuator',
      driver: driver.driver,
      async apply(body: ComponentControls['ring_light'], source) {
        const now = ctx.clock.now();
        const colour: Rgb = [body.red, body.green, body.blue];
        const critical = ctx.shared('heating')?.critical ?? null;
        if (colour.some((c) => c > 0) && critical !== null)
          throw new ApiError('SAFETY_INTERLOCK', `Ring light refused: ${critical}`);
        const index = body.pixel_index;
        if (index !== undefined && index !== null && index >= pixels.length)
          throw new ApiError(
            'VALIDATION_FAILED',
            `pixel_index ${index} is out of range: this ring has ${pixels.length} pixels (0-${pixels.length - 1}); omit it to set the whole ring`,
          );
        const next = pixels.map((p, i) => (index === undefined || index === null || i === index ? colour : p));
        await driver.show(next).catch((e: unknown) => Promise.reject(deviceFault(ctx.log, ctx.name, e)));
        pixels = next;
        last = colour;
        time = now;
        ctx.record(source, { red: colour[0], green: colour[1], blue: colour[2], pixel_index: index ?? null });
      },
      state: () => ({
        ...OK,
        timestamp: iso(time),
        red: last[0],
        green: last[1],
        blue: last[2],
        active: lit(),
        pixel_count: pixels.length,
        pixels: pixels.map((px) => [...px]),
      }),
      capabilities: () => ({
        type: 'actuator',
        driver: driver.driver,
        control_type: 'rgb_addressable',
        parameters: ['red', 'green', 'blue', 'pixel_index'],
        color_range: [0, 255],
        pixel_count: pixels.length,
        count: pixels.length,
      }),
      safe: () => [{ red: 0, green: 0, blue: 0 }],
      heatOff: () => (lit() ? { red: 0, green: 0, blue: 0 } : null),
      close: () => driver.close(),
    };
  },
  simulate(sim) {
    const ring = new EmulatedNeoPixelSpi(sim.config.ring_light.pixel_count);
    sim.ring = ring;
    sim.inputs.ringLight = () => ring.pixels.reduce((sum, [r, g, b]) => sum + (r + g + b) / 765, 0) / ring.pixelCount;
    return undefined;
  },
});
