from __future__ import annotations

import sys

from forgelens.cli import main

sys.exit(main())
