import sys

from mspviewer.cli import main

sys.exit(main())
