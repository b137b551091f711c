"""Tests against a whole simulated cluster: control plane, controllers, KWOK nodes."""
