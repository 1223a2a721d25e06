"""Daily strategy report of the Sapphire AI trading system."""
