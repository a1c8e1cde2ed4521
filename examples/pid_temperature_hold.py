"""Hold the vessel at 37 °C with the peltier (PID) while stirring, recording a row every 10 s.

Runs two periodic jobs: the PID step every 5 s and a measurement every 10 s. Leaving the
``with`` block (at the end, on an error or on Ctrl-C) switches every actuator off.
"""

import functools

from bioreactor_client import Bioreactor, measure_all_data, pid_controller, write_data_to_csv

SETPOINT_C = 37.0
DURATION_S = 2 * 60 * 60  # two hours
PID_PERIOD_S = 5
MEASURE_PERIOD_S = 10
STIRRER_DUTY = 40


def hold_temperature(bioreactor, elapsed):
    """One PID step; prints what it did so the container log tells the story."""
    step = pid_controller(bioreactor, SETPOINT_C, kp=8, ki=0.05, kd=0, dt=PID_PERIOD_S, elapsed=elapsed)
    print(f"{elapsed:7.1f} s  {step['temperature']} °C -> peltier {step['direction']} {step['duty_cycle']} %")


def record(bioreactor, elapsed):
    write_data_to_csv(measure_all_data(bioreactor, include_controls=True, elapsed=round(elapsed, 3)))


with Bioreactor() as bioreactor:
    bioreactor.change_stirrer(STIRRER_DUTY)
    bioreactor.run(
        [
            (hold_temperature, PID_PERIOD_S, DURATION_S),
            (record, MEASURE_PERIOD_S, DURATION_S),
        ],
        block=True,
    )
    final = bioreactor.get_temperature()
    print(f"Done: {final} °C after {DURATION_S} s (setpoint {SETPOINT_C} °C)")
