"""Drive a bioreactor node from a Python experiment script (standard library only).

::

    from bioreactor_client import Bioreactor, measure_all_data, write_data_to_csv

    with Bioreactor() as bioreactor:
        bioreactor.change_stirrer(40)
        write_data_to_csv(measure_all_data(bioreactor))

Inside an experiment container the node's address comes from ``BIOREACTOR_NODE_API_URL`` and the
CSV goes to ``OUTPUT_DIR``; on a laptop the defaults are ``http://localhost:9000`` and the current
directory.
"""

from .bioreactor import Bioreactor
from .client import ACTUATOR_NAMES, COMPONENT_NAMES, BioreactorClient
from .control import balanced_flow, counterpart_pump, pid_controller, ring_light_cycle
from .data import (
    DEFAULT_CSV_FILENAME,
    format_csv_value,
    measure_all_data,
    measure_and_write_sensor_data,
    write_data_to_csv,
)
from .errors import (
    ERROR_CLASSES,
    BioreactorAPIError,
    BioreactorConnectionError,
    BioreactorError,
    BioreactorTimeoutError,
    ComponentUnavailableError,
    CSVColumnsError,
    DeviceFaultError,
    NodeBusyError,
    SafetyInterlockError,
    UnauthorizedError,
    ValidationError,
)
from .hub import submit_experiment

__version__ = "3.0.0"
#: The node API this client follows; a node refuses an experiment image whose client is older than its own
#: (CLIENT_API_LEVEL in packages/api). 2: readings in the batched state, extra columns, no component allow-list.
__api_level__ = 2

__all__ = [
    "submit_experiment",
    "ACTUATOR_NAMES",
    "COMPONENT_NAMES",
    "DEFAULT_CSV_FILENAME",
    "ERROR_CLASSES",
    "Bioreactor",
    "BioreactorAPIError",
    "BioreactorClient",
    "BioreactorConnectionError",
    "BioreactorError",
    "BioreactorTimeoutError",
    "CSVColumnsError",
    "ComponentUnavailableError",
    "DeviceFaultError",
    "NodeBusyError",
    "SafetyInterlockError",
    "UnauthorizedError",
    "ValidationError",
    "__api_level__",
    "__version__",
    "balanced_flow",
    "counterpart_pump",
    "format_csv_value",
    "measure_all_data",
    "measure_and_write_sensor_data",
    "pid_controller",
    "ring_light_cycle",
    "write_data_to_csv",
]
