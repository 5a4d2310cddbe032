"""Models owned by this area; imported by routing.models so Django registers them."""
