"""Gateway benchmark: a fake upstream measured directly and through Python gateways."""
