"""Training of the variable-rate MSP model (Qt-free). See ``mspviewer train --help``."""
