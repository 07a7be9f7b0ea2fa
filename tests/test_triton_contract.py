"""PluginContract's local-vs-Triton tests, one plugin of every kind and family, on a real
tritonserver (the session's ``server`` fixture, tests/conftest.py); no mocks."""

from __future__ import annotations

import pytest

from jetplug.testing import PluginContract
from jetplug.triton import TritonServer

pytestmark = pytest.mark.triton


class _OnTheServer:
    @pytest.fixture(autouse=True)
    def _url(self, server: TritonServer) -> None:
        self.triton_url = server.grpc_url


class TestFastSimContractOnTriton(_OnTheServer, PluginContract):
    plugin = "example_fastsim"  # created collection, per-object random numbers


class TestAnomalyContractOnTriton(_OnTheServer, PluginContract):
    plugin = "example_anomaly"  # torch; finalize uses the prepared tensors


class TestDecorrelatorContractOnTriton(_OnTheServer, PluginContract):
    plugin = "example_decorrelator"  # reads another plugin's output


class TestCalibratorContractOnTriton(_OnTheServer, PluginContract):
    plugin = "calib_pfn"  # three input tensors, replaces FatJet.pt


class TestJetLevelCalibratorContractOnTriton(_OnTheServer, PluginContract):
    plugin = "calib_bdt"  # xgboost; energy fractions derived where a file lacks them


class TestAutoencoderContractOnTriton(_OnTheServer, PluginContract):
    plugin = "ae_qcd"  # the reconstruction error is computed inside the served network


class TestNormalizedAutoencoderContractOnTriton(_OnTheServer, PluginContract):
    plugin = "nae_top"


class TestGanContractOnTriton(_OnTheServer, PluginContract):
    plugin = "fastsim_gan"  # noise from per-object random numbers, sent as a tensor
    triton_rtol = 1e-4


class TestJetCLRContractOnTriton(_OnTheServer, PluginContract):
    plugin = "jetclr"  # a 64-d embedding per jet (vector output, no labels)


class TestJetCLRAnomalyContractOnTriton(_OnTheServer, PluginContract):
    plugin = "jetclr_qcd"  # Mahalanobis distance computed inside the served network


class TestTau21DDTContractOnTriton(_OnTheServer, PluginContract):
    plugin = "tau21_ddt"  # a slope as a state-dict buffer


class TestDDTMapContractOnTriton(_OnTheServer, PluginContract):
    plugin = "ddt_part_w"  # quantile table; reads part's output (runs after it)


class TestDisCoContractOnTriton(_OnTheServer, PluginContract):
    plugin = "disco_w"  # one MLP per working point, all served as one model


class TestAdversarialContractOnTriton(_OnTheServer, PluginContract):
    plugin = "adv_top"


class TestDomainAdversarialContractOnTriton(_OnTheServer, PluginContract):
    plugin = "dann_top"  # a lambda scan of gradient-reversal-trained networks, one served model


class TestSystematicAdversarialContractOnTriton(_OnTheServer, PluginContract):
    plugin = "sysadv_top"


class TestFewShotContractOnTriton(_OnTheServer, PluginContract):
    plugin = "meta_w"  # MAML start adapted with K = 100 jets (jetplug-meta)
