"""The edge agent: cameras in, scan events out, nothing lost on the way."""
