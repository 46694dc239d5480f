# Single-user image of the CNN course: JupyterLab with the course's conda environment
# (environment.yml: cnnlib, the cnnkit grader, nbgrader and its lab extensions), a CPU build of
# torch, and bubblewrap (the sandbox of the grader and of the students' self-check).
#
#   docker build -t cnn-course .                      # students' image (no Formgrader)
#   docker build -t cnn-course-instructor --build-arg NBGRADER_ROLE=instructor .
#   docker run --rm -p 8888:8888 cnn-course           # a local trial
#
# Zero to JupyterHub uses it as singleuser.image (docs/DEPLOY.md). Only the kit is copied in:
# never the course folder (course/: the gradebook and the secret seed of the hidden cases).
# The source notebooks come along because `cnnkit check` (the self-check) reads them; a graded
# course's students fetch their assignments from nbgrader's exchange.
FROM quay.io/jupyter/minimal-notebook:python-3.11

ARG NBGRADER_ROLE=student

USER root
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends bubblewrap \
 && rm -rf /var/lib/apt/lists/*

USER ${NB_UID}
WORKDIR /opt/cnn-course
COPY --chown=${NB_UID}:${NB_GID} environment.yml pyproject.toml README.md ./
COPY --chown=${NB_UID}:${NB_GID} cnnlib ./cnnlib
COPY --chown=${NB_UID}:${NB_GID} autograder ./autograder
COPY --chown=${NB_UID}:${NB_GID} notebooks ./notebooks

# environment.yml into the image's base environment (its pip section installs this kit, editable,
# from /opt/cnn-course). CONDA_OVERRIDE_CUDA="" tells the solver there is no GPU: conda-forge's
# CPU build of pytorch, whatever machine builds the image.
RUN CONDA_OVERRIDE_CUDA="" mamba env update --name base --file environment.yml \
 && mamba clean --all --force-pkgs-dirs --yes \
 && python -c "import torch, cnnlib, autograder.cli; assert not torch.version.cuda, torch.version.cuda"

# nbgrader's extensions: students keep Assignments (fetch/submit/fetch feedback), Courses and
# Validate; the Formgrader and Create Assignment are for instructors only.
RUN if [ "${NBGRADER_ROLE}" = student ]; then \
      jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:formgrader \
   && jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:create-assignment \
   && jupyter server extension disable --sys-prefix nbgrader.server_extensions.formgrader; \
    fi \
 && jupyter server extension list 2>&1 | grep -q "nbgrader.server_extensions.assignment_list.*enabled"

# JupyterLab's defaults for the course: no news or update checks (they reach the internet)
COPY --chown=${NB_UID}:${NB_GID} binder/overrides.json /opt/conda/share/jupyter/lab/settings/overrides.json

WORKDIR ${HOME}
