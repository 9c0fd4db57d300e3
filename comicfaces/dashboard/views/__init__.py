"""The sections of each dashboard page, one module per page; ``common`` contains the shared parts."""
