// Route contracts of the web server's JSON API (port 3000): live data and dashboard settings.
import { type Static, Type } from 'typebox';
import { defineRoute } from './common.js';
import { errorResponses } from './errors.js';

/** Which series the dashboard shows (original keys kept; new ones follow the CSV columns). */
export const DisplayComponents = Type.Object({
  co2_sensor: Type.Boolean({ default: true }),
  temperature: Type.Boolean({ default: true }),
  od_voltages: Type.Boolean({ default: true }),
  eyespy_voltages: Type.Boolean({ default: false }),
  stirrer_duty: Type.Boolean({ default: true }),
  peltier_duty: Type.Boolean({ default: true }),
});

export const DashboardSettings = Type.Object({
  display_components: DisplayComponents,
  update_interval: Type.Number({ minimum: 0.5, maximum: 60, default: 2, description: 'Seconds between updates' }),
  csv_file_path: Type.String({
    minLength: 1,
    maxLength: 200,
    pattern: '^[A-Za-z0-9._-]+\\.csv$',
    default: 'experiment_data.csv',
    description: 'CSV file (under the experiment output directory) followed during experiments',
  }),
});
export type DashboardSettings = Static<typeof DashboardSettings>;

export const DATA_SOURCES = ['csv', 'hardware', 'unknown'] as const;
export type DataSource = (typeof DATA_SOURCES)[number];

const Num = Type.Union([Type.Number(), Type.Null()]);
/** One point of live data, from the experiment CSV or the node's sensors. */
export const LiveSample = Type.Object(
  {
    timestamp: Type.String(),
    status: Type.Union([Type.Literal('success'), Type.Literal('error')]),
    source: Type.Union(DATA_SOURCES.map((s) => Type.Literal(s))),
    experiment_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    co2_ppm: Type.Optional(Num),
    temperature: Type.Optional(Num),
    od_voltages: Type.Optional(Type.Array(Num)),
    eyespy_voltages: Type.Optional(Type.Array(Num)),
    stirrer_duty: Type.Optional(Num),
    peltier_duty: Type.Optional(Num),
    peltier_direction: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    message: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type LiveSample = Static<typeof LiveSample>;

export const webRoutes = {
  liveData: defineRoute({
    method: 'GET',
    url: '/api/live-data',
    schema: {
      tags: ['live'],
      summary: 'Server-Sent Events (Accept: text/event-stream) or one JSON snapshot',
      response: { 200: LiveSample },
    },
  }),
  getSettings: defineRoute({
    method: 'GET',
    url: '/api/settings/dashboard',
    schema: { tags: ['settings'], response: { 200: DashboardSettings } },
  }),
  saveSettings: defineRoute({
    method: 'POST',
    url: '/api/settings/dashboard',
    schema: {
      tags: ['settings'],
      body: DashboardSettings,
      response: {
        200: Type.Object({ status: Type.Literal('success'), message: Type.String(), settings: DashboardSettings }),
        ...errorResponses('VALIDATION_FAILED', 'CSRF_FAILED'),
      },
    },
  }),
} as const;
