#!/usr/bin/python3
"""lava/validate.py [FILE...]: checks LAVA job and device YAML files with the
schemas of Debian's lava-dispatcher package (lava_common.schemas), as a LAVA
server does on submission. Job files may hold {PLACEHOLDERS}; they are
replaced by sample values first. Prints one line per file; exit 1 if any
file is invalid. Default: every YAML file under lava/ and lava/matrix/."""
import glob
import os
import re
import sys

import yaml
from lava_common.schemas import validate as validate_job
from lava_common.schemas.device import validate as validate_device

SAMPLES = {"KERNEL": "/tmp/kernel", "KERNEL_URL": "http://files.example/kernel",
           "BOOTARGS": "run=test exit=reboot"}


def fill(text):
    return re.sub(r"\{([A-Z_]+)\}", lambda m: SAMPLES.get(m.group(1), m.group(0)), text)


def main(files):
    here = os.path.dirname(os.path.abspath(__file__))
    files = files or sorted(glob.glob(f"{here}/**/*.yaml", recursive=True))
    bad = 0
    for f in files:
        data = yaml.safe_load(fill(open(f).read()))
        kind = "device" if "actions" in data and isinstance(data["actions"], dict) else "job"
        try:
            (validate_device if kind == "device" else validate_job)(data)
            print(f"valid {kind}: {os.path.relpath(f)}")
        except Exception as e:  # voluptuous.Invalid and friends
            bad += 1
            print(f"INVALID {kind}: {os.path.relpath(f)}: {e}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
