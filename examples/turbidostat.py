"""Turbidostat: keep the culture's density in a band by diluting with fresh medium.

Every 5 s the scatter photodiode (OD channel "90") is read. When its voltage rises above
UPPER_V the inflow and outflow pumps run together (balanced_flow keeps the volume constant)
until it falls below LOWER_V. Each measurement goes to experiment_data.csv with two extra
columns: the dilution pump rate and the total medium added.
"""

import time

from bioreactor_client import Bioreactor, balanced_flow, measure_all_data, write_data_to_csv

DURATION_S = 24 * 60 * 60  # one day
PERIOD_S = 5
OD_CHANNEL = "90"
UPPER_V = 0.6  # tune both thresholds to your culture and optics: record a growth curve first
LOWER_V = 0.5
DILUTION_ML_PER_S = 0.05
STIRRER_DUTY = 50

with Bioreactor() as bioreactor:
    pumps = bioreactor.get_pump_names()
    if "inflow" not in pumps or "outflow" not in pumps:
        raise SystemExit(f"this turbidostat needs pumps named inflow and outflow; the node has {pumps}")
    channel = bioreactor.get_od_channels().index(OD_CHANNEL)
    bioreactor.change_stirrer(STIRRER_DUTY)

    diluting = False
    medium_ml = 0.0
    start = time.monotonic()
    next_time = start
    while time.monotonic() - start < DURATION_S:
        elapsed = time.monotonic() - start
        data = measure_all_data(bioreactor, include_controls=True, elapsed=round(elapsed, 3))
        od = (data["od_voltages"] or [None] * (channel + 1))[channel]
        if od is not None:
            if not diluting and od > UPPER_V:
                balanced_flow(bioreactor, "inflow", DILUTION_ML_PER_S)
                diluting = True
            elif diluting and od < LOWER_V:
                balanced_flow(bioreactor, "inflow", 0)
                diluting = False
        if diluting:
            medium_ml += DILUTION_ML_PER_S * PERIOD_S
        # Every row has the same keys from the first on, so the CSV header holds them all.
        data["dilution_ml_per_s"] = DILUTION_ML_PER_S if diluting else 0.0
        data["medium_added_ml"] = round(medium_ml, 4)
        write_data_to_csv(data)
        print(f"{elapsed:8.1f} s  OD[{OD_CHANNEL}] {od} V  {'diluting' if diluting else 'growing'}")
        next_time += PERIOD_S
        time.sleep(max(0.0, next_time - time.monotonic()))

    print(f"Done: {medium_ml:.2f} mL of medium added")
