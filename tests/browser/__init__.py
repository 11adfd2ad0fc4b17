"""Browser tests of the staff console (marker `browser`)."""
