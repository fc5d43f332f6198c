"""Load harness: wrk against nginx (mock upstream and proxy_pass), FerroGate and peer gateways."""
