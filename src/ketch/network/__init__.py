"""Networks: bridges, IPAM, published ports, embedded DNS."""
