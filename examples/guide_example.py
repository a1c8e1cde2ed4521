# The deployment guide's example experiment: every 10 s for 5 minutes, record all sensors and
# actuator states to experiment_data.csv and print CO2 and temperature.
from bioreactor_client import Bioreactor, measure_all_data, write_data_to_csv
import time

bioreactor = Bioreactor()
max_duration = 300  # 5 minutes
interval = 10       # Measure every 10 seconds

start_time = time.time()
next_measurement_time = start_time

while True:
    current_time = time.time()
    elapsed = current_time - start_time

    if elapsed >= max_duration:
        break

    if current_time >= next_measurement_time:
        # Get all sensors + control states
        data = measure_all_data(bioreactor, include_controls=True)
        write_data_to_csv(data)

        print(f"CO2: {data.get('co2_ppm')} ppm")
        print(f"Temperature: {data.get('temperature')}°C")

        next_measurement_time += interval

    time.sleep(0.1)

print("Experiment complete!")
