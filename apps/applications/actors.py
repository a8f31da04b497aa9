from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who changed an application: a user, or a job (by dotted name and RQ job id)."""

    user: object = None
    job_name: str = ""
    job_id: str = ""

    @classmethod
    def for_job(cls, job_name: str) -> "Actor":
        from rq import get_current_job

        job = get_current_job()
        return cls(job_name=job_name, job_id=job.id if job else "")

    def event_fields(self) -> dict:
        return {"actor_user": self.user, "actor_job_name": self.job_name, "actor_job_id": self.job_id}
