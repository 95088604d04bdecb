"""Thin rclpy nodes: each turns messages into calls of the ROS-free core and back again."""
