"""Training: state, losses, optimizer and schedules, pure steps, exact evaluation, the run loop."""
