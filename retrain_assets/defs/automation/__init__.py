"""What runs the service by itself: the job, the daily schedule, the new-data sensor."""
