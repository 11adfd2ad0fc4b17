"""The fault suite: real workers, a real broker and misbehaving providers (`-m faults`)."""
