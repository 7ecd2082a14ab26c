"""Business flow templates (order to cash, credit, inventory, after-sales, customer master)."""
