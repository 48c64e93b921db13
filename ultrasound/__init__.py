"""sigkit.ultrasound"""
